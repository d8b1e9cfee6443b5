; Scopes and definitions for local navigation (Neovim's locals, Helix and Zed).

(source_file) @local.scope
(task) @local.scope
(pipeline_body) @local.scope

(param name: (_) @local.definition.constant)
(secret name: (_) @local.definition.constant)
(sweep name: (_) @local.definition.var)
(resource name: (_) @local.definition.var)
(site name: (_) @local.definition.var)
(data name: (_) @local.definition.var)
(model name: (_) @local.definition.var)
(task name: (_) @local.definition.function)
(pipeline name: (_) @local.definition.function)
(schema name: (_) @local.definition.type)
(record name: (_) @local.definition.type)
(enum name: (_) @local.definition.type)
(format name: (_) @local.definition.type)
(kind name: (_) @local.definition.type)
(field name: (_) @local.definition.parameter)
(let_statement name: (_) @local.definition.var)
(for_statement variable: (_) @local.definition.var)
(for_statement index: (_) @local.definition.var)
(import alias: (_) @local.definition.import)
(import_name name: (_) @local.definition.import)

(identifier) @local.reference
(type_identifier) @local.reference
