# gantry: one static binary in a small image. The final stage keeps git and
# bash because the local runner and `gantry fetch` (the ECS fetch container)
# use them; it runs as an unprivileged user.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.Version=${VERSION}" -o /out/gantry ./cmd/gantry

FROM alpine:3.20
RUN apk add --no-cache git bash ca-certificates openssh-client \
 && adduser -D -H -u 10001 gantry \
 && mkdir -p /work && chown gantry /work
COPY --from=build /out/gantry /usr/local/bin/gantry
USER 10001
WORKDIR /work
ENV GANTRY_HTTP_ADDR=:8080
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/gantry"]
CMD ["serve"]
