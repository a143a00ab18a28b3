// Package awsserver is a test server that speaks enough of the AWS wire
// protocols for the real aws-sdk-go-v2 clients of ECS, CloudWatch Logs,
// Secrets Manager and SSM (awsJson 1.1, X-Amz-Target
// "AmazonEC2ContainerServiceV20141113.*", "Logs_20140328.*",
// "secretsmanager.GetSecretValue" and "AmazonSSM.GetParameter") and
// CloudWatch PutMetricData (Smithy RPC v2 CBOR, POST
// /service/GraniteServiceVersion20100801/operation/PutMetricData) to run
// against it unmodified.
//
// # Starting it
//
//	srv := awsserver.New(t)             // closed when the test ends
//	cfg := srv.AWSConfig()              // static credentials, us-east-1, BaseEndpoint = srv.URL()
//	ecsClient := ecs.NewFromConfig(cfg)
//	logsClient := cloudwatchlogs.NewFromConfig(cfg)
//
// AWSConfig reads nothing from the environment. Code that builds its own
// configuration with config.LoadDefaultConfig can be pointed at the server
// with srv.SetEnv() (t.Setenv of AWS_ENDPOINT_URL, AWS_REGION, static keys,
// no shared files, no IMDS) or srv.Env() for a child process. Options:
// WithManualClock, WithRegion, WithClusters.
//
// Requests must be POSTs signed with SigV4 (the signature is not checked)
// and carry the protocol's Content-Type. An operation the server does not
// implement fails the test with a message naming it.
//
// # ECS
//
// RegisterTaskDefinition stores revisions by family (1, 2, ...) and returns
// the definition as registered plus taskDefinitionArn
// (arn:aws:ecs:REGION:123456789012:task-definition/FAMILY:REV), revision,
// status, compatibilities and registeredAt. It refuses what ECS refuses:
// no containers, bad names, Fargate without awsvpc, task cpu/memory, an
// execution role for awslogs or for container secrets, secrets without a
// name or valueFrom, or awslogs-stream-prefix. DescribeTaskDefinition
// takes a family (latest ACTIVE revision), FAMILY:REV or an ARN, and fails
// with ClientException "Unable to describe task definition."; include TAGS
// works. DeregisterTaskDefinition makes a revision INACTIVE.
//
// RunTask checks the cluster (any name, unless WithClusters), the definition
// (ClientException "TaskDefinition not found."), that exactly one of
// launchType and capacityProviderStrategy is given (the cluster's default
// strategy is not modelled), that Fargate and awsvpc definitions get an
// awsvpcConfiguration with subnets, that overrides name real containers, and
// the limits on count, startedBy, clientToken and tags. A clientToken seen
// before returns the tasks that token started, not new ones (a RunTask that
// replied failures does not use its token up). Tasks have ARNs
// arn:aws:ecs:REGION:123456789012:task/CLUSTER/ID (ID: 32 hex digits),
// start in the first phase of their script (PROVISIONING by default), and
// carry startedBy, group, tags, overrides, attachments (awsvpc) and the
// definition's containers. DescribeTasks returns tasks and failures (reason
// MISSING); StopTask records its reason and stops the task: stopCode
// UserInitiated, stoppedReason the reason ("Task stopped by user" when
// empty), running containers exit 137 unless the script says otherwise;
// stopping a stopped task changes nothing. ListTasks filters by cluster,
// startedBy (as in ECS, only with desiredStatus), family, launchType and
// desiredStatus (default RUNNING) and pages with maxResults. UpdateTaskProtection and GetTaskProtection keep
// protectionEnabled per task with its expiry (expiresInMinutes 1-2880,
// default 120); RejectProtection(true) makes UpdateTaskProtection answer
// TASK_NOT_VALID as real ECS does for tasks not started by a service.
// DescribeClusters is answered too.
//
// # Secrets Manager and SSM
//
// PutSecret (or PutBinarySecret) and PutParameter store values and return
// their ARNs (a secret's ends in the six random characters Secrets Manager
// adds). GetSecretValue finds a secret by full ARN, ARN without the suffix,
// or name, and answers SecretString (or SecretBinary), ARN, Name,
// VersionId, VersionStages [AWSCURRENT] and CreatedDate; an unknown one is
// ResourceNotFoundException. GetParameter finds a parameter by name or
// ARN; a SecureString read without WithDecryption answers an opaque
// ciphertext, not the value; an unknown one is ParameterNotFound. Denials
// are injected with FailNext("GetSecretValue", 1, Fault{Code:
// "AccessDeniedException"}). Container secrets of tasks run by RunLocally
// resolve from these stores (after LocalConfig.Secrets), as the execution
// role would fetch them.
//
// # Scripted tasks
//
// What a task does is scripted by the test. Scripts queued with QueueScripts
// are used first, one per task; then the function given to Script, which
// sees the definition and the RunTask input (it runs under the server's
// lock and must not call the server); otherwise a task runs DefaultPhases
// and exits 0. A TaskScript lists Phases (status and duration, in lifecycle
// order PROVISIONING, PENDING, ACTIVATING, RUNNING, DEACTIVATING, STOPPING,
// DEPROVISIONING), log lines per container written while RUNNING, and the
// outcome:
//
//   - by itself: containers exit with ExitCode/ExitCodes, stopCode
//     EssentialContainerExited, stoppedReason "Essential container in task
//     exited" (StopCode and StoppedReason override both);
//   - StartFailure: no exit codes, stopCode TaskFailedToStart, stoppedReason
//     and container reasons the given text, e.g. FailToStart("CannotPullContainerError: ...");
//   - UntilStopped: the last phase lasts until StopTask (StopDelay between the
//     call and STOPPED, StopExitCodes instead of 137).
//
// NotStarted names containers that never start (a dependsOn condition not
// met): no logs, no exit code, their ContainerReasons reason.
//
// RunLocally(LocalConfig) scripts tasks by running their containers as
// local processes when RunTask starts them: in dependsOn order, with the
// definition's env, resolved secrets and the overrides, one directory per
// volume (container paths in the working directory and in env values are
// rewritten to it), and a first word of the command line mapped to a local
// program (Programs: "gantry" -> a test binary) or found in PATH ("sh").
// What they print is replayed as their awslogs lines, their exit codes are
// the task's outcome, and a container whose dependency failed never
// starts. Queued scripts still come first.
//
// Log lines go where the container's awslogs options say: group
// awslogs-group, stream awslogs-stream-prefix/CONTAINER/TASK_ID. The group
// is created, if missing, when RunTask starts the task (in AWS it exists
// beforehand); the stream when the task reaches RUNNING, so before that
// GetLogEvents fails with ResourceNotFoundException "The specified log
// stream does not exist.". Lines of a container without awslogs are
// dropped.
//
// Time: scripted changes are applied lazily, whenever a request or an
// inspection looks, for every change whose time has come. By default that
// is the wall clock, so durations of tens of milliseconds make a task run
// through while the code under test polls. WithManualClock freezes time:
// nothing moves until the test calls Advance.
//
// # CloudWatch Logs
//
// GetLogEvents reads by logGroupName or logGroupIdentifier: without a token
// from the head (startFromHead) or the tail, with nextToken forward ("f/...")
// or backward ("b/..."), limit (default and maximum 10000) and a 1 MB cap,
// startTime/endTime. When nothing is new the token passed in comes back
// unchanged, so the SDK paginator stops. A missing group or stream is
// ResourceNotFoundException. FilterLogEvents (term patterns only),
// CreateLogGroup, CreateLogStream, DescribeLogGroups, DescribeLogStreams and
// PutLogEvents work too. AppendLog writes lines to a stream directly.
//
// # CloudWatch
//
// PutMetricData bodies are decoded from CBOR; each datum (namespace, name,
// dimensions, value(s), statistics, unit, timestamp) is kept for Metrics. The
// reply is an empty CBOR map; errors are CBOR maps with __type.
//
// # Faults
//
// FailNext(op, n, fault) makes the next n requests of an operation reply an
// error: Throttling() (ThrottlingException, 400) or ServerError()
// (ServerException, 500), or any code. With AfterApply the call takes
// effect first, as when a reply is lost. FailRunTask(n, failures...) makes
// RunTask reply failures (e.g. reason "RESOURCE:MEMORY") and start nothing.
//
// The SDK retries these itself. Its standard retryer (the default; 3
// attempts, exponential backoff with jitter of up to 2^attempt seconds, at
// most 20s) retries HTTP 500, 502, 503 and 504, connection errors, and the
// throttling codes Throttling, ThrottlingException, ThrottledException,
// RequestThrottledException, TooManyRequestsException,
// ProvisionedThroughputExceededException, TransactionInProgressException,
// RequestLimitExceeded, BandwidthLimitExceeded, LimitExceededException,
// RequestThrottled, SlowDown, PriorRequestNotComplete and
// EC2ThrottledException. ClientException and InvalidParameterException are
// not retried. After the last attempt the error is the service's error (a
// smithy.APIError; ECS does not model ThrottlingException, so it is a
// *smithy.GenericAPIError with that code) wrapped in a
// *retry.MaxAttemptsError. Every attempt is a request here, so Count shows
// them. Retries also draw on a per-client token bucket (500 tokens, 5 per
// retry): under sustained failures calls fail fast with "retry quota
// exceeded". A runner that wants more attempts sets them on the client
// (config.WithRetryMaxAttempts, or Options.RetryMaxAttempts per client or
// call) rather than looping on top of the SDK's retries.
//
// # Inspecting
//
// Calls (every request: service, operation, decoded input, JSON, error
// code; Call.Decode fills the SDK's own input struct), Count and Counts,
// Tasks and Task (statuses, stop code and reason, StopTask reasons,
// containers with exit codes, log streams and secrets (name -> valueFrom),
// the task and execution roles, the RunTask input, tags, protection),
// TaskDefinition, LogEvents and LogStreams, and Metrics.
package awsserver
