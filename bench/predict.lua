-- wrk script: POST one iris instance to the predict endpoint; counts non-2xx answers.
wrk.method = "POST"
wrk.path = "/v1/models/iris/predict"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}'

local threads = {}

function setup(thread)
    table.insert(threads, thread)
end

function init(args)
    failed = 0
end

function response(status, headers, body)
    if status ~= 200 then
        failed = failed + 1
    end
end

function done(summary, latency, requests)
    local failures = 0
    for _, thread in ipairs(threads) do
        failures = failures + thread:get("failed")
    end
    io.write(string.format("non-200 responses: %d; socket errors: connect %d, read %d, write %d, timeout %d\n",
        failures, summary.errors.connect, summary.errors.read, summary.errors.write, summary.errors.timeout))
end
