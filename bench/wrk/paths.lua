-- Many clients in one wrk run: each request takes the next line of a file given after
-- `--` ("path<TAB>cookie", the cookie optional), round robin, each thread from its own
-- offset. Pre-formatted once, so choosing a request costs wrk next to nothing.
-- wrk's figures are printed by report.lua, loaded from this script's directory.
local here = debug.getinfo(1, "S").source:sub(2):match("^(.*[/\\])") or "./"
dofile(here .. "report.lua")

local requests = {}
local count = 0
local next_index = 1
local thread_number = 0

setup = function(thread)
  thread:set("thread_number", thread_number)
  thread_number = thread_number + 1
end

init = function(args)
  local file = assert(args[1], "paths.lua needs a file of paths after --")
  for line in io.lines(file) do
    local path, cookie = line:match("^([^\t]+)\t?(.*)$")
    if path then
      local headers = {}
      if cookie ~= "" then
        headers["Cookie"] = cookie
      end
      count = count + 1
      requests[count] = wrk.format("GET", path, headers)
    end
  end
  assert(count > 0, "no path in " .. file)
  -- Threads start far apart in the list, so they do not ask for the same clients.
  next_index = ((thread_number or 0) * 7919) % count + 1
end

request = function()
  local chosen = requests[next_index]
  next_index = next_index % count + 1
  return chosen
end
