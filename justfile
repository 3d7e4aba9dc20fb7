# Everyday recipes. They mirror the README; nothing requires `just`.

# run the whole pipeline on embedded defaults
dev *ARGS:
    go run ./cmd/kraite dev {{ARGS}}

# the README's test command (CI runs .ci/run, which calls it)
test:
    go test -race -count=1 ./...

# fuzz the frame decoders for a while
fuzz TIME="30s":
    go test -run '^$' -fuzz FuzzParseEnvelope -fuzztime {{TIME}} ./internal/binance/

# benchmarks that print ratios against a baseline measured in the same run
bench:
    go test -run '^$' -bench . -benchtime 1x ./internal/binance/ ./producers/... ./processors/... ./sinks/...

lint:
    gofmt -l . | tee /dev/stderr | (! read)
    go vet ./...

fmt:
    gofmt -w .
