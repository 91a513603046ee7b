-- `rollgate lsp` in Neovim's built-in client (vim.lsp): diagnostics as you type with the project
-- folder as context, hover, the suppress quick fix (`vim.lsp.buf.code_action()`), go to
-- definition (`vim.lsp.buf.definition()`), document symbols.
--
-- Put this file on 'runtimepath' as lua/rollgate-lsp.lua and call it from init.lua:
--   require('rollgate-lsp').setup()            -- or setup({ cmd = { '/path/to/rollgate', 'lsp' } })
-- The root is the nearest folder with .rollgate.yaml or .git (else the file's folder): every
-- manifest under it is the world the findings are computed in.
local M = {}

local function root_of(path)
  local dir = vim.fn.fnamemodify(path, ':p:h')
  local found = vim.fn.finddir('.git', dir .. ';')
  local cfg = vim.fn.findfile('.rollgate.yaml', dir .. ';')
  if cfg ~= '' then
    return vim.fn.fnamemodify(cfg, ':p:h')
  end
  if found ~= '' then
    return vim.fn.fnamemodify(found, ':p:h:h')
  end
  return dir
end

function M.setup(opts)
  opts = opts or {}
  local cmd = opts.cmd or { 'rollgate', 'lsp' }
  vim.api.nvim_create_autocmd('FileType', {
    pattern = { 'yaml', 'json' },
    callback = function(args)
      local root = root_of(vim.api.nvim_buf_get_name(args.buf))
      local config = { name = 'rollgate', cmd = cmd, root_dir = root }
      if vim.lsp.start then
        -- Neovim 0.8+: reuses the client of the same root.
        vim.lsp.start(config, { bufnr = args.buf })
      else
        -- Neovim 0.7: one client per root, attached by hand.
        M.clients = M.clients or {}
        local id = M.clients[root] or vim.lsp.start_client(config)
        M.clients[root] = id
        vim.lsp.buf_attach_client(args.buf, id)
      end
    end,
  })
end

return M
