; Highlighting of .exp files. Capture names follow the common tree-sitter set, so that
; Neovim, Helix and Zed themes colour them.

; Names not matched below.
(identifier) @variable
(type_identifier) @type

; Keywords (the lists come from grammar/exp.ebnf).
["experiment" "param" "secret" "sweep" "resource" "site" "data" "model" "schema" "task" "pipeline" "record" "enum" "format" "kind" "profile"] @keyword
"import" @keyword.import
"as" @keyword.import
["resources" "env" "run" "shell" "spark" "retry" "cache" "evaluates"] @keyword
"after" @keyword.control
"args" @keyword
["let" "for" "in" "on" "where" "register"] @keyword.control
["if" "else"] @keyword.conditional
(comparison operator: "in" @keyword.operator)

; Literals.
(boolean) @boolean
(none) @constant.builtin
(integer) @number
(float) @number.float
(quantity) @number
(string) @string
(escape_sequence) @string.escape
(template "`" @string.special)
(shell_template) @string.special
(template_text) @string.special
(template_escape) @string.escape
(interpolation ["${" "}"] @punctuation.special)

; Declarations.
(task name: (_) @function)
(pipeline name: (_) @function)
(param name: (_) @constant)
(secret name: (_) @constant)
(sweep name: (_) @variable)
(sweep strategy: (_) @function.builtin)
(resource name: (_) @variable)
(site name: (_) @variable)
(data name: (_) @variable)
(model name: (_) @variable)
(experiment name: (_) @module)
(schema name: (_) @type.definition)
(record name: (_) @type.definition)
(enum name: (_) @type.definition)
(format name: (_) @type.definition)
(kind name: (_) @type.definition)
(kind backend: (_) @constant.builtin)
(profile name: (_) @variable)
(after call: (_) @variable)
(variant) @constant
(field name: (_) @variable.parameter)
(entry name: (_) @property)
(argument name: (_) @variable.parameter)
(let_statement name: (_) @variable)
(for_statement variable: (_) @variable)
(for_statement index: (_) @variable)
(import alias: (_) @module)
(module_path (identifier) @module)
(field_access field: (_) @property)

; Types.
(type name: (type_identifier) @type)
((type name: (type_identifier) @type.builtin)
 (#any-of? @type.builtin "Int" "Float" "Bool" "String" "Path" "Memory" "Duration" "Cpu" "Timestamp" "File" "Dir" "Table" "Model" "Metrics" "List"))
(record_literal type: (_) @type)

; Calls.
(call function: (identifier) @function.call)
(call function: (field_access field: (_) @function.call))
((call function: (identifier) @function.builtin)
 (#any-of? @function.builtin "env" "git" "linspace" "uniform" "loguniform" "choice" "json" "yaml"))

; Comments.
(line_comment) @comment
(block_comment) @comment
(doc_comment) @comment.documentation

; Operators and punctuation.
["||" "&&" "==" "!=" "<" "<=" ">" ">=" "+" "-" "*" "/" "%" "!" ".." "..=" "->" "=" "?"] @operator
["(" ")" "[" "]" "{" "}"] @punctuation.bracket
["," "." ":"] @punctuation.delimiter
