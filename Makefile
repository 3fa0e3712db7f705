# The two set-up commands are in the README; this file only names the
# longer-running jobs.
.PHONY: test bench image
test:
	bash scripts/test.sh
bench:
	bash scripts/bench.sh $(BENCH_ARGS)

# The container image without a Docker daemon: a static binary and an OCI
# archive (internal/tools/ociimage, go-containerregistry onto an empty base).
# Load it with `ctr -n k8s.io images import`, `kind load image-archive` or
# `skopeo copy oci-archive:.build/egressgw-image.tar docker://REGISTRY/egressgw:TAG`.
IMAGE ?= ghcr.io/egressgw/egressgw:dev
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
GOARCH ?= $(shell go env GOARCH)
image:
	mkdir -p .build
	CGO_ENABLED=0 GOOS=linux GOARCH=$(GOARCH) go build -buildvcs=false -trimpath -ldflags "-s -w -X main.version=$(VERSION)" -o .build/egressgw ./cmd/egressgw
	go run ./internal/tools/ociimage -binary .build/egressgw -arch $(GOARCH) -tag $(IMAGE) -version $(VERSION) -out .build/egressgw-image.tar
