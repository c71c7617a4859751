-- wrk script of bench/soak.py: on every request pick one kind of request of the mix file
-- $SOAK_MIX at random (by weight), send it with the header X-Request-ID: soak-<thread>-<kind>-<n>,
-- and check its answer. The server echoes that id, which is how an answer is matched to the
-- kind of request it answers on a connection shared by many kinds. An answer is unexpected when
--   * its status is not the kind's expected one, or it carries no soak request id;
--   * the kind pins a body (answers that must not vary) and the body differs from it;
--   * it is an error (4xx/5xx) and not an RFC 9457 problem document (application/problem+json).
-- When done, print ONE line  BENCH_RESULT {"requests": ..., "unexpected": [...], "samples": [...]}
-- (latencies in microseconds; counts per kind in the order of the mix file) for soak.py to parse.
--
-- The mix file has one kind per line, tab-separated:
--   name  weight  method  path  content-type|-  accept|-  body-file|-  status  pinned-body-file|-

local function read_file(path)
    local file = assert(io.open(path, "rb"))
    local content = file:read("*a")
    file:close()
    return content
end

local function split_tabs(line)
    local fields = {}
    for field in (line .. "\t"):gmatch("([^\t]*)\t") do
        table.insert(fields, field)
    end
    return fields
end

local function optional(field)
    if field == "-" then
        return nil
    end
    return field
end

local function load_mix(path)
    local kinds = {}
    for line in io.lines(path) do
        if line ~= "" then
            local f = split_tabs(line)
            assert(#f == 9, "bad line in " .. path .. ": " .. line)
            local body_file, pinned_file = optional(f[7]), optional(f[9])
            table.insert(kinds, {
                name = f[1], weight = tonumber(f[2]), method = f[3], path = f[4],
                content_type = optional(f[5]), accept = optional(f[6]),
                body = body_file and read_file(body_file), status = tonumber(f[8]),
                pinned = pinned_file and read_file(pinned_file),
            })
        end
    end
    assert(#kinds > 0, path .. " names no request")
    return kinds
end

local function header(headers, wanted)
    wanted = wanted:lower()
    for name, value in pairs(headers) do
        if name:lower() == wanted then
            return value
        end
    end
    return nil
end

-- JSON string literal; every byte that is not printable ASCII becomes \u00XX.
local function json_string(text)
    return '"' .. text:gsub('[%c"\\\128-\255]', function(c)
        return string.format("\\u%04x", c:byte())
    end) .. '"'
end

local MAX_SAMPLES = 5
local threads = {}

function setup(thread)
    table.insert(threads, thread)
    thread:set("thread_id", #threads)
end

function init(args)
    local mix = os.getenv("SOAK_MIX")
    if mix == nil or mix == "" then
        error("SOAK_MIX is not set (bench/soak.lua is run by bench/soak.py)")
    end
    kinds = load_mix(mix)
    total_weight = 0
    sent, answered, unexpected = {}, {}, {}
    for i, kind in ipairs(kinds) do
        total_weight = total_weight + kind.weight
        sent[i], answered[i], unexpected[i] = 0, 0, 0
    end
    unattributed = 0
    samples = {}
    counter = 0
    math.randomseed(tonumber(os.getenv("SOAK_SEED") or "0") * 1000 + thread_id)
end

local function pick()
    local point = math.random() * total_weight
    for i, kind in ipairs(kinds) do
        point = point - kind.weight
        if point < 0 then
            return i
        end
    end
    return #kinds
end

function request()
    local i = pick()
    local kind = kinds[i]
    counter = counter + 1
    sent[i] = sent[i] + 1
    local headers = {
        ["Host"] = wrk.headers["Host"],
        ["X-Request-ID"] = string.format("soak-%d-%d-%d", thread_id, i, counter),
    }
    if kind.content_type then
        headers["Content-Type"] = kind.content_type
    end
    if kind.accept then
        headers["Accept"] = kind.accept
    end
    return wrk.format(kind.method, kind.path, headers, kind.body)
end

local function note(text)
    if #samples < MAX_SAMPLES then
        table.insert(samples, text)
    end
end

function response(status, headers, body)
    local id = header(headers, "X-Request-ID") or ""
    local i = tonumber(id:match("^soak%-%d+%-(%d+)%-%d+$") or "")
    if i == nil or kinds[i] == nil then
        unattributed = unattributed + 1
        note(string.format("status %d without a soak request id (X-Request-ID: %q): %s",
            status, id, body:sub(1, 200)))
        return
    end
    local kind = kinds[i]
    answered[i] = answered[i] + 1
    local problem
    if status ~= kind.status then
        problem = string.format("status %d, expected %d", status, kind.status)
    elseif kind.pinned and body ~= kind.pinned then
        problem = "the body differs from the one checked before the load"
    elseif status >= 400 and not (header(headers, "Content-Type") or ""):find("^application/problem%+json") then
        problem = "an error that is not application/problem+json"
    end
    if problem then
        unexpected[i] = unexpected[i] + 1
        note(string.format("%s (%s): %s: %s", kind.name, id, problem, body:sub(1, 200)))
    end
end

function done(summary, latency, requests)
    -- Per kind, in the order of the mix file: requests sent, answered, and answered unexpectedly.
    -- (Only plain values and flat tables are copied out of the threads: wrk 4.1 crashes on
    -- nested ones.)
    local totals = { sent = {}, answered = {}, unexpected = {} }
    local all_samples, total_unattributed = {}, 0
    for _, thread in ipairs(threads) do
        for name, counts in pairs(totals) do
            for i, count in ipairs(thread:get(name)) do
                counts[i] = (counts[i] or 0) + count
            end
        end
        total_unattributed = total_unattributed + thread:get("unattributed")
        for _, sample in ipairs(thread:get("samples")) do
            table.insert(all_samples, json_string(sample))
        end
    end
    local errors = summary.errors
    io.write(string.format(
        'BENCH_RESULT {"requests": %d, "duration_us": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, '
            .. '"max_us": %d, "connect_errors": %d, "read_errors": %d, "write_errors": %d, "timeouts": %d, '
            .. '"unattributed": %d, "sent": [%s], "answered": [%s], "unexpected": [%s], "samples": [%s]}\n',
        summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
        latency:percentile(99), latency.max, errors.connect, errors.read, errors.write, errors.timeout,
        total_unattributed, table.concat(totals.sent, ", "), table.concat(totals.answered, ", "),
        table.concat(totals.unexpected, ", "), table.concat(all_samples, ", ")))
end
