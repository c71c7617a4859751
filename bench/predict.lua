-- wrk script of bench/bench.py: POST the body read from the file $BENCH_BODY (JSON, unless told
-- otherwise below) to the path $BENCH_PATH on every request, count answers that are not 2xx, and
-- when done print ONE line
--   BENCH_RESULT {"requests": ..., "duration_us": ..., "p50_us": ..., ...}
-- (latencies in microseconds) for bench.py to parse.
--
-- Optional (bench/protocols.py): $BENCH_CONTENT_TYPE replaces the Content-Type application/json
-- (e.g. application/octet-stream for a body with binary tensor data), and $BENCH_HEADERS adds
-- request headers, one "Name: value" a line (e.g. "Inference-Header-Content-Length: 123").

local function getenv(name)
    local value = os.getenv(name)
    if value == nil or value == "" then
        error(name .. " is not set (bench/predict.lua is run by bench/bench.py)")
    end
    return value
end

local function optional(name)
    local value = os.getenv(name)
    if value == "" then
        return nil
    end
    return value
end

local function read_file(path)
    local file = assert(io.open(path, "rb"))
    local content = file:read("*a")
    file:close()
    return content
end

wrk.method = "POST"
wrk.path = getenv("BENCH_PATH")
wrk.headers["Content-Type"] = optional("BENCH_CONTENT_TYPE") or "application/json"
for line in (optional("BENCH_HEADERS") or ""):gmatch("[^\r\n]+") do
    local name, value = line:match("^%s*([^:%s]+)%s*:%s*(.-)%s*$")
    if name == nil then
        error("BENCH_HEADERS: expected one \"Name: value\" a line, got " .. string.format("%q", line))
    end
    wrk.headers[name] = value
end
wrk.body = read_file(getenv("BENCH_BODY"))

local threads = {}

function setup(thread)
    table.insert(threads, thread)
end

function init(args)
    non2xx = 0
end

function response(status, headers, body)
    if status < 200 or status > 299 then
        non2xx = non2xx + 1
    end
end

function done(summary, latency, requests)
    local total_non2xx = 0
    for _, thread in ipairs(threads) do
        total_non2xx = total_non2xx + thread:get("non2xx")
    end
    local errors = summary.errors
    io.write(string.format(
        'BENCH_RESULT {"requests": %d, "duration_us": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, '
            .. '"non2xx": %d, "connect_errors": %d, "read_errors": %d, "write_errors": %d, "timeouts": %d}\n',
        summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
        latency:percentile(99), total_non2xx, errors.connect, errors.read, errors.write, errors.timeout))
end
