--- Rune configuration: defaults and validation.
---
--- Every option is defined once, in the host's zod schemas; the build turns
--- them into `rune.config_schema` (generated data: defaults, types, ranges),
--- and this module checks the user's options against it at `setup()`. An error
--- names the offending key with its full path and says what was expected, e.g.
--- `(rune) config: host.start_timeout_ms must be a number, got string`.
--- Tables whose content only the host understands (providers, prompts,
--- mcp.servers, …) are checked in depth when the host starts.
local M, H = {}, {}

H.schema = require('rune.config_schema')

M.defaults = H.schema.defaults

local function fail(path, msg)
  error(('(rune) config: %s %s'):format(path, msg), 0)
end

--- The option names of a section, for "is not an option" errors.
local function keys_of(path)
  local prefix = path == '' and '' or path .. '.'
  local out = {}
  for name in pairs(H.schema.options) do
    local rest = name:sub(1, #prefix) == prefix and name:sub(#prefix + 1) or nil
    if rest and not rest:find('.', 1, true) then
      out[#out + 1] = rest
    end
  end
  table.sort(out)
  return table.concat(out, ', ')
end

local function has_type(spec, value)
  for _, t in ipairs(spec.types) do
    if t == 'false' and value == false or t == type(value) then
      return true
    end
  end
  return false
end

--- Checks one value against its generated spec.
function H.check_value(path, value, spec)
  if value == vim.NIL then
    if spec.optional then
      return
    end
    fail(path, 'is required (' .. table.concat(spec.types, ' or ') .. ')')
  end
  if spec.enum then
    if not vim.tbl_contains(spec.enum, value) then
      fail(
        path,
        ('must be one of %s, got %s'):format(table.concat(spec.enum, ', '), vim.inspect(value))
      )
    end
    return
  end
  if not has_type(spec, value) then
    fail(path, ('must be a %s, got %s'):format(table.concat(spec.types, ' or '), type(value)))
  end
  if type(value) ~= 'number' then
    return
  end
  if spec.integer and value ~= math.floor(value) then
    fail(path, ('must be a whole number, got %s'):format(vim.inspect(value)))
  end
  if spec.min and value < spec.min then
    fail(path, ('must be a number ≥ %s, got %s'):format(spec.min, vim.inspect(value)))
  end
  if spec.above and value <= spec.above then
    fail(path, ('must be a number > %s, got %s'):format(spec.above, vim.inspect(value)))
  end
  if spec.max and value > spec.max then
    fail(path, ('must be a number ≤ %s, got %s'):format(spec.max, vim.inspect(value)))
  end
end

--- Checks the options of a section (the whole config when `path` is '').
function H.check_section(path, value)
  if type(value) ~= 'table' then
    fail(path, 'must be a table, got ' .. type(value))
  end
  for k, v in pairs(value) do
    local sub = path == '' and tostring(k) or (path .. '.' .. tostring(k))
    local spec = H.schema.options[sub]
    if spec == nil then
      fail(sub, 'is not an option (known here: ' .. keys_of(path) .. ')')
    elseif spec.section then
      H.check_section(sub, v)
    else
      H.check_value(sub, v, spec)
    end
  end
end

--- Validates `opts` and merges it over the defaults. Raises on bad input.
---@param opts table|nil
---@return rune.Config
function M.resolve(opts)
  opts = opts or {}
  if type(opts) ~= 'table' then
    error('(rune) config: setup() expects a table, got ' .. type(opts), 0)
  end
  H.check_section('', opts)
  return vim.tbl_deep_extend('force', vim.deepcopy(M.defaults), opts)
end

return M
