# gantry's one image, for every role: `serve`, `bot`, `worker`, and inside
# job tasks `fetch` (the fetch container clones with git, over https or
# ssh) and `collect` (the fetch container copies this static binary into
# the workspace for the job container). The role is the command:
#
#   docker run IMAGE bot        docker run IMAGE worker
#
# No config is baked in: GANTRY_CONFIG names a mounted file, an S3 object
# (s3://BUCKET/KEY) or an SSM parameter (ssm:NAME); see README.md.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.Version=${VERSION}" -o /out/gantry ./cmd/gantry

FROM debian:bookworm-slim
# git and openssh-client for `gantry fetch` and the local runner, bash for
# the local runner's steps, CA certificates for Slack, GitHub and AWS.
RUN apt-get update \
 && apt-get install -y --no-install-recommends git bash ca-certificates openssh-client \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --home-dir /work --create-home --shell /usr/sbin/nologin gantry
COPY --from=build /out/gantry /usr/local/bin/gantry
# A numeric user, so a runtime that refuses root images can check it. The
# ECS fetch container runs as root (its task definition says so) to make
# the workspace volume writable for any job image's user.
USER 10001:10001
WORKDIR /work
ENV GANTRY_HTTP_ADDR=:8080
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/gantry"]
CMD ["serve"]
