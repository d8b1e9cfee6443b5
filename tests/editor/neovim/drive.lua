-- Drives a headless Neovim as a user would, once the spec is open: waits for the
-- language server to attach and publish diagnostics, hovers and goes to a definition
-- with the client's own commands, and writes what Neovim showed as JSON to
-- $EXPC_NVIM_OUT. Positions come from $EXPC_NVIM_HOVER and $EXPC_NVIM_DEFINITION as
-- "LINE,COLUMN" (1-based line, 0-based byte column, as nvim_win_set_cursor takes them).
-- Written for Neovim 0.7 and later.

local out = { steps = {} }
local timeout = 30000

local function finish()
  local file = io.open(vim.env.EXPC_NVIM_OUT, "w")
  file:write(vim.fn.json_encode(out))
  file:close()
  vim.cmd("qall!")
end

local function position(name)
  local line, column = string.match(vim.env[name], "^(%d+),(%d+)$")
  return { tonumber(line), tonumber(column) }
end

local function step(name, ok)
  table.insert(out.steps, { name = name, ok = ok })
  if not ok then
    finish()
  end
  return ok
end

-- The clients attached to a buffer, as a list (`vim.lsp.get_clients` from 0.10 on,
-- `buf_get_clients` before it, deprecated since).
local function clients_of(buf)
  if vim.lsp.get_clients then
    return vim.lsp.get_clients({ bufnr = buf })
  end
  local list = {}
  for _, c in pairs(vim.lsp.buf_get_clients(buf)) do
    table.insert(list, c)
  end
  return list
end

local spec = vim.api.nvim_get_current_buf()
out.filetype = vim.bo[spec].filetype

if not step("attached", vim.wait(timeout, function()
  return #clients_of(spec) > 0
end, 20)) then
  return
end
out.client = clients_of(spec)[1].name

if not step("diagnostics", vim.wait(timeout, function()
  return #vim.diagnostic.get(spec) > 0
end, 20)) then
  return
end
out.diagnostics = {}
for _, d in ipairs(vim.diagnostic.get(spec)) do
  table.insert(out.diagnostics, {
    line = d.lnum,
    column = d.col,
    severity = d.severity,
    message = d.message,
  })
end

-- Hover: the floating window vim.lsp.buf.hover() opens, and its text.
local main_window = vim.api.nvim_get_current_win()
vim.api.nvim_win_set_cursor(main_window, position("EXPC_NVIM_HOVER"))
vim.lsp.buf.hover()
local float
if not step("hover", vim.wait(timeout, function()
  for _, w in ipairs(vim.api.nvim_list_wins()) do
    if vim.api.nvim_win_get_config(w).relative ~= "" then
      float = w
      return true
    end
  end
  return false
end, 20)) then
  return
end
out.hover = vim.api.nvim_buf_get_lines(vim.api.nvim_win_get_buf(float), 0, -1, false)
vim.api.nvim_win_close(float, true)
vim.api.nvim_set_current_win(main_window)

-- Go to definition: where vim.lsp.buf.definition() puts the cursor.
local from = position("EXPC_NVIM_DEFINITION")
vim.api.nvim_win_set_cursor(main_window, from)
vim.lsp.buf.definition()
if not step("definition", vim.wait(timeout, function()
  local at = vim.api.nvim_win_get_cursor(0)
  return at[1] ~= from[1] or at[2] ~= from[2]
end, 20)) then
  return
end
local at = vim.api.nvim_win_get_cursor(0)
out.definition = { line = at[1], column = at[2], file = vim.api.nvim_buf_get_name(0) }

finish()
