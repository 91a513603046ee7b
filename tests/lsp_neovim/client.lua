-- Driven by tests/lsp_neovim.rs: Neovim's own LSP client (vim.lsp, 0.7+) against `rollgate lsp`.
-- Opens a file of the workspace, waits for diagnostics, applies a fix and a suppress code action, jumps
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
  results.diagnostics = {}
  for _, d in ipairs(vim.diagnostic.get(buf)) do
    local code = d.code or d.user_data.lsp.code
    table.insert(results.diagnostics, { code = code, lnum = d.lnum, col = d.col, severity = d.severity })
  end

  -- A code action for the diagnostic `code`, asked as `vim.lsp.buf.code_action()` asks (the
  -- cursor's range and the line's diagnostics), whose title starts with `prefix`.
  local function action_for(code, prefix)
    local target
    for _, d in ipairs(vim.diagnostic.get(buf)) do
      if (d.code or d.user_data.lsp.code) == code then
        target = d
      end
    end
    assert(target, 'no diagnostic ' .. code)
    vim.api.nvim_win_set_cursor(0, { target.lnum + 1, target.col })
    local params = vim.lsp.util.make_range_params()
    params.context = { diagnostics = vim.lsp.diagnostic.get_line_diagnostics(buf) }
    local resp = vim.lsp.buf_request_sync(buf, 'textDocument/codeAction', params, 10000)
    for _, r in pairs(resp or {}) do
      for _, a in ipairs(r.result or {}) do
        if a.title:sub(1, #prefix) == prefix then
          return a
        end
      end
    end
    error('no code action "' .. prefix .. '" for ' .. code)
  end

  local function line_with(needle)
    for _, l in ipairs(vim.api.nvim_buf_get_lines(buf, 0, -1, false)) do
      if l:find(needle, 1, true) then
        return l
      end
    end
  end

  -- The rule's fix (the fix engine's edit, in UTF-16 positions after an emoji on the line),
  -- applied as `vim.lsp.buf.code_action` applies it.
  local fix = action_for(rule, 'Fix (unsafe')
  results.fix = fix.title
  results.fix_preferred = fix.isPreferred or false
  vim.lsp.util.apply_workspace_edit(fix.edit, 'utf-16')
  assert(
    vim.wait(20000, function()
      return not has(codes(buf), rule)
    end, 20),
    'the finding stayed after the fix'
  )
  results.fixed_line = line_with('destination_workload')
  results.after_fix = codes(buf)

  -- Suppress another finding of the template, with a reason.
  local other = 'rate-window-too-short'
  local action = action_for(other, 'Suppress ' .. other)
  results.action = action.title
  vim.lsp.util.apply_workspace_edit(action.edit, 'utf-16')
  assert(
    vim.wait(20000, function()
      return not has(codes(buf), other)
    end, 20),
    'the finding stayed after the code action'
  )
  results.after_action = codes(buf)
  results.suppression = line_with('ignore-check')
  -- An unsaved line at the top: the definition must come from the buffer, not the file.
  vim.api.nvim_buf_set_lines(buf, 0, 0, false, { '# unsaved' })
  for i, l in ipairs(vim.api.nvim_buf_get_lines(buf, 0, -1, false)) do
    if l == '  name: latency' then
      results.name_line = i
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
        -- The buffer's text reaches the server after Neovim's change debounce.
        if x.result and #x.result > 0 and x.result[1].range.start.line + 1 == results.name_line then
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
