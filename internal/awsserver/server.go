package awsserver

import (
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// AccountID is the account every ARN the server makes belongs to.
const AccountID = "123456789012"

// DefaultRegion is the region of ARNs and of AWSConfig unless WithRegion
// says otherwise.
const DefaultRegion = "us-east-1"

// Static credentials handed out by AWSConfig and Env. The server checks that
// requests are signed, not the signature.
const (
	TestAccessKeyID     = "AKIAAWSSERVERTEST000"
	TestSecretAccessKey = "awsserver-test-secret-access-key"
)

// Service names used in Call.Service.
const (
	ServiceECS        = "ecs"
	ServiceLogs       = "logs"
	ServiceCloudWatch = "cloudwatch"
	// ServiceSecretsManager and ServiceSSM are read by gantry's own role to
	// learn the values of job secrets it must redact.
	ServiceSecretsManager = "secretsmanager"
	ServiceSSM            = "ssm"
	// ServiceEventBridge gets the job events gantry publishes (PutEvents).
	ServiceEventBridge = "events"
)

const (
	ecsTargetPrefix  = "AmazonEC2ContainerServiceV20141113"
	logsTargetPrefix = "Logs_20140328"
	smTargetPrefix   = "secretsmanager"
	ssmTargetPrefix  = "AmazonSSM"
	eventsTarget     = "AWSEvents"
	cloudWatchRPC    = "GraniteServiceVersion20100801"
	jsonContentType  = "application/x-amz-json-1.1"
	cborContentType  = "application/cbor"
	maxRequestBody   = 8 << 20
)

// Option configures a Server made by New.
type Option func(*Server)

// WithManualClock freezes the server's clock at start: scripted tasks and log
// lines move only when the test calls Advance. Without it the server follows
// the wall clock.
func WithManualClock(start time.Time) Option {
	return func(s *Server) {
		s.manual = true
		s.clock = start
	}
}

// WithRegion sets the region in ARNs and in AWSConfig (default us-east-1).
func WithRegion(region string) Option {
	return func(s *Server) { s.region = region }
}

// WithClusters limits the clusters that exist; a call naming any other
// cluster fails with ClusterNotFoundException. Without it every cluster name
// exists.
func WithClusters(names ...string) Option {
	return func(s *Server) {
		s.clusters = map[string]bool{}
		for _, n := range names {
			s.clusters[n] = true
		}
	}
}

// Server is a fake of ECS, CloudWatch Logs, CloudWatch (PutMetricData),
// Secrets Manager (GetSecretValue), SSM (GetParameter) and EventBridge
// (PutEvents) served over HTTP for the real SDK clients. All methods are safe for
// concurrent use.
type Server struct {
	t      testing.TB
	ts     *httptest.Server
	region string

	mu       sync.Mutex
	manual   bool
	clock    time.Time
	clusters map[string]bool // nil: every cluster exists

	calls       []Call
	faults      map[string][]Fault
	runFailures [][]Failure
	rejectProt  bool

	families  map[string]*family
	tasks     map[string]*task // by task ARN
	taskOrder []*task
	tokens    map[string][]*task // RunTask clientToken -> the tasks it started
	scripts   []TaskScript
	scripter  func(ecstypes.TaskDefinition, ecs.RunTaskInput) TaskScript

	groups  map[string]*logGroup
	metrics []Metric
	logSeq  int64

	secrets map[string]*secretEntry // Secrets Manager, by name
	params  map[string]*paramEntry  // SSM Parameter Store, by name

	busEntries  []EventBridgeEntry // EventBridge PutEvents, accepted
	entryFaults []EntryFailure     // the next PutEvents entries to fail
}

// New starts a server for the test and closes it when the test ends.
func New(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s := &Server{
		t:        t,
		region:   DefaultRegion,
		faults:   map[string][]Fault{},
		families: map[string]*family{},
		tasks:    map[string]*task{},
		tokens:   map[string][]*task{},
		groups:   map[string]*logGroup{},
	}
	for _, o := range opts {
		o(s)
	}
	s.ts = httptest.NewServer(http.HandlerFunc(s.serveHTTP))
	t.Cleanup(s.ts.Close)
	return s
}

// URL is the server's base URL, for BaseEndpoint or AWS_ENDPOINT_URL.
func (s *Server) URL() string { return s.ts.URL }

// Region is the region of the server's ARNs.
func (s *Server) Region() string { return s.region }

// AWSConfig returns a configuration that sends every client made from it to
// this server: static credentials, the server's region and BaseEndpoint, and
// nothing read from the environment or ~/.aws. Retries are left to the SDK's
// defaults (the standard retryer, 3 attempts), so a client's own retrying is
// what a test exercises.
func (s *Server) AWSConfig() aws.Config {
	return aws.Config{
		Region:       s.region,
		Credentials:  credentials.NewStaticCredentialsProvider(TestAccessKeyID, TestSecretAccessKey, ""),
		BaseEndpoint: aws.String(s.ts.URL),
		HTTPClient:   s.ts.Client(),
		// As config.LoadDefaultConfig: gzip PutMetricData bodies of 10 KiB or more.
		RequestMinCompressSizeBytes: 10240,
	}
}

// Env returns KEY=VALUE settings that point the SDK's default configuration
// chain (config.LoadDefaultConfig) at this server, for code under test that
// builds its own configuration: endpoint, region, static credentials, no
// shared config files and no instance metadata.
func (s *Server) Env() []string {
	return []string{
		"AWS_ENDPOINT_URL=" + s.ts.URL,
		"AWS_ENDPOINT_URL_ECS=" + s.ts.URL,
		"AWS_ENDPOINT_URL_CLOUDWATCH_LOGS=" + s.ts.URL,
		"AWS_ENDPOINT_URL_CLOUDWATCH=" + s.ts.URL,
		"AWS_ENDPOINT_URL_SECRETS_MANAGER=" + s.ts.URL,
		"AWS_ENDPOINT_URL_SSM=" + s.ts.URL,
		"AWS_ENDPOINT_URL_EVENTBRIDGE=" + s.ts.URL,
		"AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=false",
		"AWS_REGION=" + s.region,
		"AWS_DEFAULT_REGION=" + s.region,
		"AWS_ACCESS_KEY_ID=" + TestAccessKeyID,
		"AWS_SECRET_ACCESS_KEY=" + TestSecretAccessKey,
		"AWS_SESSION_TOKEN=",
		"AWS_PROFILE=",
		"AWS_CONFIG_FILE=" + os.DevNull,
		"AWS_SHARED_CREDENTIALS_FILE=" + os.DevNull,
		"AWS_EC2_METADATA_DISABLED=true",
	}
}

// SetEnv applies Env to this process with t.Setenv, so it is undone when the
// test ends. Like t.Setenv it cannot be used in parallel tests.
func (s *Server) SetEnv() {
	s.t.Helper()
	for _, kv := range s.Env() {
		k, v, _ := strings.Cut(kv, "=")
		s.t.Setenv(k, v)
	}
}

// Now is the server's current time: the wall clock, or the manual clock.
func (s *Server) Now() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.now()
}

func (s *Server) now() time.Time {
	if s.manual {
		return s.clock
	}
	return time.Now()
}

// Advance moves the manual clock forward by d, applying every scripted task
// change and log line that falls due. It needs WithManualClock.
func (s *Server) Advance(d time.Duration) {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.manual {
		s.t.Errorf("awsserver: Advance(%v) needs a server made WithManualClock; this one follows the wall clock", d)
		return
	}
	if d < 0 {
		s.t.Errorf("awsserver: Advance(%v): the clock cannot go back", d)
		return
	}
	s.clock = s.clock.Add(d)
	s.advance()
}

// Call is one request the server received, successful or not.
type Call struct {
	Service   string         // ServiceECS, ServiceLogs, ServiceCloudWatch, ServiceSecretsManager, ServiceSSM or ServiceEventBridge
	Operation string         // e.g. "RunTask", "GetLogEvents", "PutMetricData"
	Input     map[string]any // the decoded request body (wire member names)
	JSON      []byte         // the request as JSON (CBOR bodies re-encoded)
	Error     string         // the error code replied, "" on success
	Time      time.Time      // server time of the request
}

// Decode unmarshals the request into v with encoding/json. Go's
// case-insensitive field matching makes the SDK's own input structs work,
// e.g. *ecs.RunTaskInput or *cloudwatchlogs.GetLogEventsInput.
func (c Call) Decode(v any) error {
	if err := json.Unmarshal(c.JSON, v); err != nil {
		return fmt.Errorf("decode %s %s request into %T: %w", c.Service, c.Operation, v, err)
	}
	return nil
}

// Calls returns the recorded calls in arrival order, only those of the
// named operations if any are given.
func (s *Server) Calls(ops ...string) []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Call
	for _, c := range s.calls {
		if len(ops) == 0 || contains(ops, c.Operation) {
			out = append(out, c)
		}
	}
	return out
}

// Count is the number of requests for op, failed attempts included (each
// SDK retry is a request).
func (s *Server) Count(op string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.calls {
		if c.Operation == op {
			n++
		}
	}
	return n
}

// Counts returns the number of requests per operation.
func (s *Server) Counts() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int{}
	for _, c := range s.calls {
		out[c.Operation]++
	}
	return out
}

// Fault is an error reply injected with FailNext.
type Fault struct {
	Code    string // the error type, e.g. "ThrottlingException"
	Message string
	Status  int // HTTP status; 0 means 400
	// AfterApply lets the call take effect before the error is replied, as
	// when a reply is lost: a retried RunTask with the same clientToken must
	// then get the task already started, not a second one.
	AfterApply bool
}

// Throttling is the fault ECS and CloudWatch Logs reply when a caller exceeds
// its request rate. The SDK's standard retryer retries it.
func Throttling() Fault {
	return Fault{Code: "ThrottlingException", Message: "Rate exceeded", Status: http.StatusBadRequest}
}

// ServerError is ECS's internal error (HTTP 500), which the SDK retries.
func ServerError() Fault {
	return Fault{Code: "ServerException", Message: "Service Unavailable. Please try again later.", Status: http.StatusInternalServerError}
}

// FailNext makes the next n requests for op (e.g. "RunTask", "GetLogEvents",
// "PutMetricData") fail with f. Faults for the same operation queue up.
func (s *Server) FailNext(op string, n int, f Fault) {
	s.t.Helper()
	if f.Code == "" {
		s.t.Errorf("awsserver: FailNext(%q): the fault has no Code", op)
		return
	}
	if f.Status == 0 {
		f.Status = http.StatusBadRequest
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.faults[op] = append(s.faults[op], f)
	}
}

// apiError is an error reply in the service's own error shape.
type apiError struct {
	status  int
	code    string
	message string
}

func (e *apiError) Error() string { return e.code + ": " + e.message }

func errorf(status int, code, format string, args ...any) *apiError {
	return &apiError{status: status, code: code, message: fmt.Sprintf(format, args...)}
}

func clientError(format string, args ...any) *apiError {
	return errorf(http.StatusBadRequest, "ClientException", format, args...)
}

func invalidParameter(format string, args ...any) *apiError {
	return errorf(http.StatusBadRequest, "InvalidParameterException", format, args...)
}

// request is what a handler gets: the raw body and its decoded form.
type request struct {
	body  []byte
	input map[string]any
}

type handlerFunc func(s *Server, req request) (any, *apiError)

var (
	ecsOperations = map[string]handlerFunc{
		"RegisterTaskDefinition":   (*Server).registerTaskDefinition,
		"DescribeTaskDefinition":   (*Server).describeTaskDefinition,
		"DeregisterTaskDefinition": (*Server).deregisterTaskDefinition,
		"DescribeClusters":         (*Server).describeClusters,
		"RunTask":                  (*Server).runTask,
		"DescribeTasks":            (*Server).describeTasks,
		"StopTask":                 (*Server).stopTask,
		"ListTasks":                (*Server).listTasks,
		"UpdateTaskProtection":     (*Server).updateTaskProtection,
		"GetTaskProtection":        (*Server).getTaskProtection,
	}
	logsOperations = map[string]handlerFunc{
		"GetLogEvents":       (*Server).getLogEvents,
		"FilterLogEvents":    (*Server).filterLogEvents,
		"CreateLogGroup":     (*Server).createLogGroup,
		"CreateLogStream":    (*Server).createLogStream,
		"DescribeLogGroups":  (*Server).describeLogGroups,
		"DescribeLogStreams": (*Server).describeLogStreams,
		"PutLogEvents":       (*Server).putLogEvents,
	}
	cloudWatchOperations = map[string]handlerFunc{
		"PutMetricData": (*Server).putMetricData,
	}
	secretsManagerOperations = map[string]handlerFunc{
		"GetSecretValue": (*Server).getSecretValue,
	}
	ssmOperations = map[string]handlerFunc{
		"GetParameter": (*Server).getParameter,
	}
	eventBridgeOperations = map[string]handlerFunc{
		"PutEvents": (*Server).putEvents,
	}
)

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(r)
	if err != nil {
		http.Error(w, "awsserver: read request body: "+err.Error(), http.StatusBadRequest)
		return
	}
	if strings.HasPrefix(r.URL.Path, "/service/") {
		s.serveRPCv2(w, r, body)
		return
	}
	service, op, _ := strings.Cut(r.Header.Get("X-Amz-Target"), ".")
	var ops map[string]handlerFunc
	var name string
	switch service {
	case ecsTargetPrefix:
		ops, name = ecsOperations, ServiceECS
	case logsTargetPrefix:
		ops, name = logsOperations, ServiceLogs
	case smTargetPrefix:
		ops, name = secretsManagerOperations, ServiceSecretsManager
	case ssmTargetPrefix:
		ops, name = ssmOperations, ServiceSSM
	case eventsTarget:
		ops, name = eventBridgeOperations, ServiceEventBridge
	default:
		s.t.Errorf("awsserver: %s %s with X-Amz-Target %q: not an ECS, CloudWatch Logs, Secrets Manager, SSM or EventBridge request", r.Method, r.URL.Path, r.Header.Get("X-Amz-Target"))
		writeJSONError(w, errorf(http.StatusBadRequest, "UnknownOperationException", "awsserver: unknown X-Amz-Target %q", r.Header.Get("X-Amz-Target")))
		return
	}
	if e := checkRequest(r, body, jsonContentType); e != nil {
		writeJSONError(w, e)
		return
	}
	h, ok := ops[op]
	if !ok {
		s.t.Errorf("awsserver: %s operation %s is not implemented by the test server", name, op)
		writeJSONError(w, errorf(http.StatusBadRequest, "UnknownOperationException", "awsserver: %s operation %s is not implemented by the test server", name, op))
		return
	}
	var input map[string]any
	if err := json.Unmarshal(body, &input); err != nil {
		writeJSONError(w, errorf(http.StatusBadRequest, "SerializationException", "awsserver: %s request body is not a JSON object: %v", op, err))
		return
	}
	out, e := s.dispatch(name, op, request{body: body, input: input}, body, h)
	if e != nil {
		writeJSONError(w, e)
		return
	}
	writeJSON(w, out)
}

// readBody reads the request body, gunzipping it when the SDK compressed it
// (PutMetricData bodies of RequestMinCompressSizeBytes or more).
func readBody(r *http.Request) ([]byte, error) {
	var src io.Reader = r.Body
	switch enc := r.Header.Get("Content-Encoding"); enc {
	case "", "identity":
	case "gzip":
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			return nil, fmt.Errorf("gzip body: %w", err)
		}
		defer zr.Close()
		src = zr
	default:
		return nil, fmt.Errorf("unsupported Content-Encoding %q", enc)
	}
	b, err := io.ReadAll(io.LimitReader(src, maxRequestBody+1))
	if err != nil {
		return nil, err
	}
	return b, nil
}

// checkRequest rejects what real AWS would: unsigned requests, wrong method
// or content type, oversized bodies.
func checkRequest(r *http.Request, body []byte, contentType string) *apiError {
	if r.Method != http.MethodPost {
		return errorf(http.StatusMethodNotAllowed, "UnknownOperationException", "awsserver: method %s, want POST", r.Method)
	}
	if len(body) > maxRequestBody {
		return errorf(http.StatusRequestEntityTooLarge, "SerializationException", "awsserver: request body exceeds %d bytes", maxRequestBody)
	}
	if !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 Credential=") {
		return errorf(http.StatusForbidden, "MissingAuthenticationTokenException", "Missing Authentication Token")
	}
	if ct := r.Header.Get("Content-Type"); ct != contentType {
		return errorf(http.StatusBadRequest, "SerializationException", "awsserver: Content-Type %q, want %q", ct, contentType)
	}
	return nil
}

// dispatch records the call, applies any injected fault and runs the handler,
// all under the server lock.
func (s *Server) dispatch(service, op string, req request, asJSON []byte, h handlerFunc) (any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advance()
	s.calls = append(s.calls, Call{Service: service, Operation: op, Input: req.input, JSON: asJSON, Time: s.now()})
	call := &s.calls[len(s.calls)-1]

	var fault *Fault
	if q := s.faults[op]; len(q) > 0 {
		f := q[0]
		fault = &f
		s.faults[op] = q[1:]
	}
	if fault != nil && !fault.AfterApply {
		call.Error = fault.Code
		return nil, &apiError{status: fault.Status, code: fault.Code, message: fault.Message}
	}
	out, e := h(s, req)
	switch {
	case fault != nil:
		call.Error = fault.Code
		return nil, &apiError{status: fault.Status, code: fault.Code, message: fault.Message}
	case e != nil:
		call.Error = e.code
		return nil, e
	}
	return out, nil
}

func writeJSON(w http.ResponseWriter, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeJSONError(w, errorf(http.StatusInternalServerError, "InternalFailure", "awsserver: encode reply: %v", err))
		return
	}
	w.Header().Set("Content-Type", jsonContentType)
	w.Header().Set("X-Amzn-RequestId", newUUID())
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}

func writeJSONError(w http.ResponseWriter, e *apiError) {
	b, _ := json.Marshal(map[string]string{"__type": e.code, "message": e.message})
	w.Header().Set("Content-Type", jsonContentType)
	w.Header().Set("X-Amzn-RequestId", newUUID())
	w.Header().Set("X-Amzn-ErrorType", e.code)
	w.WriteHeader(e.status)
	_, _ = w.Write(b)
}

// decodeBody decodes a JSON request into one of the SDK's input structs.
func decodeBody(body []byte, v any) *apiError {
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return errorf(http.StatusBadRequest, "SerializationException", "awsserver: member %q has the wrong type: %v", te.Field, err)
		}
		return errorf(http.StatusBadRequest, "SerializationException", "awsserver: cannot decode request: %v", err)
	}
	return nil
}

func newHexID(nBytes int) string {
	b := make([]byte, nBytes)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func newUUID() string {
	h := newHexID(16)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// epochSeconds is a time as ECS writes it: seconds since the epoch.
func epochSeconds(t time.Time) float64 {
	return float64(t.UnixMilli()) / 1000
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
