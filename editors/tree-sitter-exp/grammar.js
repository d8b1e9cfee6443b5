/**
 * @file A tree-sitter grammar for .exp experiment specifications.
 *
 * It follows grammar/exp.ebnf, which is normative; the keyword and unit lists come from
 * it through ../words.js, so the two cannot drift apart. Like the EBNF, it tells a record
 * literal (`Kind { … }`) from a value followed by a block by the capital letter.
 */
/* global grammar, seq, choice, repeat, repeat1, optional, field, prec, token, alias */
'use strict';

const { words } = require('../words.js');

const w = words();
const byLength = (list) => [...list].sort((a, b) => b.length - a.length);
const alt = (list) => byLength(list).join('|');
const NUMBER = String.raw`\d[\d_]*(\.\d+)?`;
const QUANTITY = new RegExp(
  `${NUMBER}(${alt([...w.memoryUnits, ...w.durationUnits])})(${NUMBER}(${alt(w.durationUnits)}))*`,
);

const PREC = { or: 1, and: 2, compare: 3, range: 4, add: 5, mul: 6, unary: 7, postfix: 8 };

const commaSep1 = (rule) => seq(rule, repeat(seq(',', rule)), optional(','));

module.exports = grammar({
  name: 'exp',

  extras: ($) => [/\s/, $.line_comment, $.doc_comment, $.block_comment],

  word: ($) => $.identifier,


  rules: {
    source_file: ($) => repeat($._item),

    _item: ($) =>
      choice(
        $.experiment,
        $.import,
        $.param,
        $.secret,
        $.sweep,
        $.resource,
        $.site,
        $.data,
        $.model,
        $.schema,
        $.task,
        $.pipeline,
        $.record,
        $.enum,
        $.format,
        $.kind,
        $.profile,
      ),

    _name: ($) => choice($.identifier, $.type_identifier),

    experiment: ($) => seq('experiment', field('name', $._name), field('body', $.block)),

    import: ($) =>
      seq(
        'import',
        choice(field('path', $.string), field('module', $.module_path)),
        optional(seq('as', field('alias', $._name))),
      ),
    module_path: ($) => seq($._name, repeat(seq('.', choice($._name, $.import_list)))),
    import_list: ($) => seq('{', commaSep1($.import_name), '}'),
    import_name: ($) => seq(field('name', $._name), optional(seq('as', field('alias', $._name)))),

    param: ($) =>
      seq(
        'param',
        field('name', $._name),
        ':',
        field('type', $.type),
        optional(seq('=', field('default', $._expression))),
        optional(seq('where', field('constraint', $._expression))),
      ),
    secret: ($) =>
      seq('secret', field('name', $._name), ':', field('type', $.type), '=', field('source', $._expression)),

    sweep: ($) =>
      seq(
        'sweep',
        field('name', $._name),
        '=',
        field('strategy', $.identifier),
        optional(field('arguments', $.arguments)),
        // No block for a sweep that takes its points from a table: `rows(units)`.
        optional(field('body', $.block)),
      ),

    resource: ($) => seq('resource', field('name', $._name), '=', field('kind', $._name), field('body', $.block)),
    site: ($) => seq('site', field('name', $._name), '=', field('kind', $._name), field('body', $.block)),
    // Entries `from = to`: the calls placed on one resource run on the other.
    profile: ($) => seq('profile', field('name', $._name), field('body', $.block)),

    data: ($) => seq('data', $._artifact),
    model: ($) => seq('model', $._artifact),
    _artifact: ($) =>
      seq(
        field('name', $._name),
        ':',
        field('type', $.type),
        '=',
        field('source', $._expression),
        optional(field('body', $.block)),
      ),

    schema: ($) => seq('schema', field('name', $._name), field('body', $.block)),
    record: ($) => seq('record', field('name', $._name), field('body', $.block)),
    format: ($) =>
      seq('format', field('name', $._name), optional(seq(':', field('base', $._name))), field('body', $.block)),
    kind: ($) =>
      seq('kind', field('name', $._name), ':', field('backend', $.identifier), field('body', $.block)),
    enum: ($) =>
      seq(
        'enum',
        field('name', $._name),
        '{',
        optional(seq($.variant, repeat(seq(optional(','), $.variant)), optional(','))),
        '}',
      ),
    variant: ($) => $._name,

    task: ($) =>
      seq(
        'task',
        field('name', $._name),
        field('inputs', $.signature),
        optional(seq('->', field('outputs', $.signature))),
        field('body', $.task_body),
      ),
    signature: ($) => seq('(', optional(commaSep1($.field)), ')'),
    field: ($) =>
      seq(field('name', $._name), ':', field('type', $.type), optional(seq('=', field('default', $._expression)))),
    task_body: ($) => seq('{', repeat($._section), '}'),
    _section: ($) =>
      choice(
        $.resources_section,
        $.env_section,
        $.run_section,
        $.shell_section,
        $.spark_section,
        $.retry_section,
        $.cache_section,
        $.evaluates_section,
      ),
    resources_section: ($) => seq('resources', $.block),
    env_section: ($) => seq('env', $.block),
    run_section: ($) => seq('run', $.template),
    shell_section: ($) => seq('shell', $.shell_template),
    // The script of a `shell` section is raw text: expc never splices values into it.
    shell_template: (_) => token(seq('`', repeat(choice(/[^`\\]/, /\\(.|\n)/)), '`')),
    spark_section: ($) =>
      seq(
        'spark',
        field('application', $._expression),
        optional(seq('args', field('arguments', $.list))),
        optional(field('body', $.block)),
      ),
    retry_section: ($) => seq('retry', field('attempts', $._expression), optional(field('body', $.block))),
    cache_section: ($) => seq('cache', '=', field('value', $._expression)),
    // `evaluates = model`: the model input whose scores the task's metrics are.
    evaluates_section: ($) => seq('evaluates', '=', field('input', $._name)),

    pipeline: ($) => seq('pipeline', field('name', $._name), field('body', $.pipeline_body)),
    pipeline_body: ($) => seq('{', repeat($._statement), '}'),
    _statement: ($) =>
      choice($.let_statement, $.for_statement, $.if_statement, $.register_statement, $.expression_statement),
    // `register t.model as "name"`: the models of a call's output, registered under a name.
    register_statement: ($) =>
      seq('register', field('model', $._expression), 'as', field('name', $.string)),
    let_statement: ($) =>
      seq(
        'let',
        field('name', $._name),
        '=',
        field('value', $._expression),
        optional($.after),
        optional($.placement),
      ),
    // `for x in SOURCE` or `for (i, x) in SOURCE`: a sweep (a name or `module.name`), or
    // any list.
    for_statement: ($) =>
      seq(
        'for',
        choice(
          field('variable', $._name),
          seq('(', field('index', $._name), ',', field('variable', $._name), ')'),
        ),
        'in',
        field('source', $._expression),
        field('body', $.pipeline_body),
      ),
    // `if CONDITION { … } else { … }`: decided when the experiment is planned.
    if_statement: ($) =>
      seq(
        'if',
        field('condition', $._expression),
        field('consequence', $.pipeline_body),
        optional(seq('else', field('alternative', $.pipeline_body))),
      ),
    expression_statement: ($) => seq($._expression, optional($.after), optional($.placement)),
    // `after [a, b]`: runs after these calls of the pipeline, reading none of their outputs.
    after: ($) => seq('after', '[', optional(commaSep1(field('call', $._name))), ']'),
    placement: ($) => seq('on', field('resource', $._name)),

    block: ($) => seq('{', repeat(seq($.entry, optional(','))), '}'),
    entry: ($) =>
      seq(
        field('name', $._name),
        choice(
          seq('=', field('value', $._expression)),
          seq(':', field('type', $.type), optional(seq('=', field('default', $._expression)))),
          field('body', $.block),
        ),
      ),

    type: ($) =>
      seq(
        field('name', $._name),
        optional(seq('<', commaSep1($.type), '>')),
        optional('?'),
      ),

    _expression: ($) =>
      choice($.binary_expression, $.comparison, $.range, $.unary_expression, $._postfix),

    binary_expression: ($) =>
      choice(
        ...[
          ['||', PREC.or],
          ['&&', PREC.and],
          ['+', PREC.add],
          ['-', PREC.add],
          ['*', PREC.mul],
          ['/', PREC.mul],
          ['%', PREC.mul],
        ].map(([op, p]) =>
          prec.left(p, seq(field('left', $._expression), field('operator', op), field('right', $._expression))),
        ),
      ),
    comparison: ($) =>
      prec.left(
        PREC.compare,
        seq(
          field('left', $._expression),
          field('operator', choice('==', '!=', '<', '<=', '>', '>=', 'in')),
          field('right', $._expression),
        ),
      ),
    range: ($) =>
      prec.left(
        PREC.range,
        seq(field('start', $._expression), field('operator', choice('..', '..=')), field('end', $._expression)),
      ),
    unary_expression: ($) => prec(PREC.unary, seq(field('operator', choice('-', '!')), field('operand', $._expression))),

    _postfix: ($) => choice($.field_access, $.call, $.index, $._primary),
    field_access: ($) => prec(PREC.postfix, seq(field('base', $._postfix), '.', field('field', $._name))),
    call: ($) => prec(PREC.postfix, seq(field('function', $._postfix), field('arguments', $.arguments))),
    index: ($) => prec(PREC.postfix, seq(field('base', $._postfix), '[', field('index', $._expression), ']')),
    arguments: ($) => seq('(', optional(commaSep1($.argument)), ')'),
    argument: ($) => seq(optional(seq(field('name', $._name), '=')), field('value', $._expression)),

    _primary: ($) =>
      choice(
        $.integer,
        $.float,
        $.quantity,
        $.string,
        $.template,
        $.boolean,
        $.none,
        $.record_literal,
        $.identifier,
        $.type_identifier,
        $.list,
        $.parenthesized,
      ),
    record_literal: ($) => prec(1, seq(field('type', $.type_identifier), field('body', $.block))),
    list: ($) => seq('[', optional(commaSep1($._expression)), ']'),
    parenthesized: ($) => seq('(', $._expression, ')'),

    boolean: (_) => choice('true', 'false'),
    none: (_) => 'none',
    integer: (_) => /\d[\d_]*/,
    float: (_) => /\d[\d_]*(\.\d+([eE][+-]?\d+)?|[eE][+-]?\d+)/,
    quantity: (_) => QUANTITY,
    string: ($) => seq('"', repeat(choice($.string_content, $.escape_sequence)), token.immediate('"')),
    string_content: (_) => token.immediate(prec(1, /[^"\\]+/)),
    escape_sequence: (_) => token.immediate(/\\(u\{[0-9A-Fa-f]+\}|.|\n)/),

    template: ($) =>
      seq('`', repeat(choice($.template_text, $.template_escape, $.interpolation)), token.immediate('`')),
    // Text in '…' is not interpolated.
    template_text: (_) => token.immediate(prec(1, /('[^'`]*'|[^`$\\']|\$[^{`$\\]|\$\$[^{])+|\$|'/)),
    template_escape: (_) => token.immediate(prec(2, choice(/\\[`\\"]/, '$${'))),
    interpolation: ($) => seq(token.immediate(prec(3, '${')), $._expression, '}'),

    identifier: (_) => /[a-z_][A-Za-z0-9_]*/,
    type_identifier: (_) => /[A-Z][A-Za-z0-9_]*/,

    doc_comment: (_) => token(prec(2, seq('///', /[^/\n]?[^\n]*/))),
    line_comment: (_) => token(prec(1, seq('//', /[^\n]*/))),
    block_comment: (_) => token(seq('/*', /[^*]*\*+([^/*][^*]*\*+)*/, '/')),
  },
});
