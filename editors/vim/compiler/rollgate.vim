" Vim compiler file for rollgate (https://github.com/rollgate/rollgate): `:compiler rollgate`, then
" `:make` lints the current folder (`:make %` the current file) and fills the quickfix list.
" Install: copy this file to ~/.vim/compiler/ (Neovim: ~/.config/nvim/compiler/), or add
" editors/vim of a rollgate checkout to 'runtimepath'.
" Each finding is one line `file:line:col: severity: message [rule-id]` (--format gcc);
" severity error/warning/info becomes the quickfix type E/W/I. The errorformat is checked
" against the real output by tests/integrations.rs.
if exists('current_compiler')
  finish
endif
let current_compiler = 'rollgate'

if exists(':CompilerSet') != 2
  command -nargs=* CompilerSet setlocal <args>
endif

CompilerSet makeprg=rollgate\ lint\ --format\ gcc
CompilerSet errorformat=%f:%l:%v:\ %trror:\ %m,%f:%l:%v:\ %tarning:\ %m,%f:%l:%v:\ %tnfo:\ %m,%-G%.%#
