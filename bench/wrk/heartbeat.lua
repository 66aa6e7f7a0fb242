-- wrk: each request is one active device's heartbeat, with its owner's token, through the
-- seed's route. bench/gateway writes "<device id> <token>" lines to the file named by the
-- script's first argument.
local devices = {}

function init(args)
  for line in io.lines(args[1]) do
    local id, token = line:match("^(%S+) (%S+)$")
    devices[#devices + 1] = {
      path = "/api/v1/network/devices/" .. id .. "/heartbeat",
      headers = { Authorization = "Bearer " .. token },
    }
  end
  math.randomseed(os.time() + #tostring({}))
end

function request()
  local device = devices[math.random(#devices)]
  return wrk.format("POST", device.path, device.headers)
end
