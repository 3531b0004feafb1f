# syntax=docker/dockerfile:1
# jobwatch image: a static binary built by `make build` (the same target CI
# and developers use) on a distroless static, non-root base.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
ARG COMMIT=unknown
RUN make build VERSION=${VERSION} COMMIT=${COMMIT}

FROM gcr.io/distroless/static:nonroot
COPY --from=build /src/bin/jobwatch /jobwatch
USER 65532:65532
ENTRYPOINT ["/jobwatch"]
CMD ["run"]
