-- Driven by tests/lsp_neovim.rs: Neovim's own LSP client (vim.lsp, 0.7+) against `rollgate lsp`.
-- Opens a file of the workspace, waits for diagnostics, applies the suppress code action, jumps
-- to a definition; writes what it saw as JSON to $ROLLGATE_OUT and quits.
local bin = os.getenv('ROLLGATE_BIN')
local root = os.getenv('ROLLGATE_WS')
local out = os.getenv('ROLLGATE_OUT')
local results = {}

local function finish(ok, err)
  results.ok = ok
  results.error = err and tostring(err) or nil
  local f = io.open(out, 'w')
  f:write(vim.fn.json_encode(results))
  f:close()
  vim.cmd('qa!')
end

local function codes(buf)
  local t = {}
  for _, d in ipairs(vim.diagnostic.get(buf)) do
    t[#t + 1] = d.code or (d.user_data and d.user_data.lsp and d.user_data.lsp.code)
  end
  return t
end

local function has(list, x)
  for _, v in ipairs(list) do
    if v == x then
      return true
    end
  end
  return false
end

local ok, err = pcall(function()
  vim.cmd('edit ' .. root .. '/template.yaml')
  local buf = vim.api.nvim_get_current_buf()
  local id = vim.lsp.start_client({ name = 'rollgate', cmd = { bin, 'lsp' }, root_dir = root })
  assert(id, 'the client did not start')
  vim.lsp.buf_attach_client(buf, id)
  assert(
    vim.wait(20000, function()
      return has(codes(buf), 'canary-query-includes-primary')
    end, 20),
    'no diagnostics'
  )
  local rule = 'canary-query-includes-primary'
  local target
  results.diagnostics = {}
  for _, d in ipairs(vim.diagnostic.get(buf)) do
    local code = d.code or d.user_data.lsp.code
    table.insert(results.diagnostics, { code = code, lnum = d.lnum, col = d.col, severity = d.severity })
    if code == rule then
      target = d
    end
  end

  -- The code action, applied as `vim.lsp.buf.code_action` applies it.
  -- As `vim.lsp.buf.code_action()` asks: the cursor's range and the line's diagnostics.
  vim.api.nvim_win_set_cursor(0, { target.lnum + 1, target.col })
  local params = vim.lsp.util.make_range_params()
  params.context = { diagnostics = vim.lsp.diagnostic.get_line_diagnostics(buf) }
  local resp = vim.lsp.buf_request_sync(buf, 'textDocument/codeAction', params, 10000)
  local action
  for _, r in pairs(resp or {}) do
    for _, a in ipairs(r.result or {}) do
      if a.title:find('Suppress ' .. rule, 1, true) then
        action = a
      end
    end
  end
  assert(action, 'no code action')
  results.action = action.title
  vim.lsp.util.apply_workspace_edit(action.edit, 'utf-16')
  assert(
    vim.wait(20000, function()
      return not has(codes(buf), rule)
    end, 20),
    'the finding stayed after the code action'
  )
  results.after_action = codes(buf)
  for _, l in ipairs(vim.api.nvim_buf_get_lines(buf, 0, -1, false)) do
    if l:find('ignore-check', 1, true) then
      results.suppression = l
    end
  end

  -- Go to definition: from the Canary's templateRef to the MetricTemplate.
  vim.cmd('edit ' .. root .. '/canary.yaml')
  local b2 = vim.api.nvim_get_current_buf()
  vim.lsp.buf_attach_client(b2, id)
  local row
  for i, l in ipairs(vim.api.nvim_buf_get_lines(b2, 0, -1, false)) do
    local c = l:find('{name: latency}', 1, true)
    if c then
      row = i
      vim.api.nvim_win_set_cursor(0, { i, c + 8 })
    end
  end
  assert(row, 'no templateRef line')
  local pos = vim.lsp.util.make_position_params()
  local defs
  assert(
    vim.wait(20000, function()
      local r = vim.lsp.buf_request_sync(b2, 'textDocument/definition', pos, 5000)
      for _, x in pairs(r or {}) do
        if x.result and #x.result > 0 then
          defs = x.result
        end
      end
      return defs ~= nil
    end, 100),
    'no definition'
  )
  vim.lsp.util.jump_to_location(defs[1], 'utf-16')
  results.definition = {
    file = vim.api.nvim_buf_get_name(0),
    line = vim.api.nvim_win_get_cursor(0)[1],
    col = vim.api.nvim_win_get_cursor(0)[2],
  }
end)
finish(ok, err)
