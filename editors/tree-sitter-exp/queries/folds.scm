; Folds: blocks, task and pipeline bodies, signatures, lists, templates and block comments.

[
  (block)
  (task_body)
  (pipeline_body)
  (signature)
  (enum)
  (list)
  (arguments)
  (template)
  (shell_template)
  (block_comment)
] @fold
