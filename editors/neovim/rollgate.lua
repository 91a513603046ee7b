-- rollgate for nvim-lint (https://github.com/mfussenegger/nvim-lint): lints the buffer through
-- standard input, so findings appear before the file is saved.
--
--   require('lint').linters.rollgate = require('rollgate')   -- this file on 'runtimepath' as lua/rollgate.lua
--   require('lint').linters_by_ft.yaml = { 'rollgate' }
--   vim.api.nvim_create_autocmd({ 'BufWritePost', 'InsertLeave' }, { callback = function() require('lint').try_lint() end })
--
-- Run Neovim from the project's folder so that its .rollgate.yaml is found. The errorformat is
-- the one of editors/vim/compiler/rollgate.vim (tests/integrations.rs checks they are equal and
-- that Vim parses the real output with it).
local errorformat = '%f:%l:%v: %trror: %m,%f:%l:%v: %tarning: %m,%f:%l:%v: %tnfo: %m,%-G%.%#'

return {
  cmd = 'rollgate',
  stdin = true,
  args = {
    'lint',
    '--format',
    'gcc',
    '--stdin-filename',
    function()
      return vim.api.nvim_buf_get_name(0)
    end,
    '-',
  },
  stream = 'stdout',
  ignore_exitcode = true,
  parser = require('lint.parser').from_errorformat(errorformat, { source = 'rollgate' }),
}
