package awsserver

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strings"
	"time"
)

// Metric is one datum PutMetricData delivered.
type Metric struct {
	Namespace         string
	Name              string
	Dimensions        map[string]string
	Value             float64   // 0 when the datum uses Values or StatisticValues
	Values            []float64 // with Counts, for a datum of many values
	Counts            []float64
	StatisticValues   *StatisticSet
	Unit              string
	Timestamp         time.Time // zero when the datum has none
	StorageResolution int
}

// StatisticSet is a datum's pre-aggregated statistics.
type StatisticSet struct {
	SampleCount, Sum, Minimum, Maximum float64
}

// Metrics returns every datum received, in arrival order.
func (s *Server) Metrics() []Metric {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Metric(nil), s.metrics...)
}

// serveRPCv2 serves Smithy RPC v2 CBOR requests:
// POST /service/SERVICE/operation/OPERATION.
func (s *Server) serveRPCv2(w http.ResponseWriter, r *http.Request, body []byte) {
	rest := strings.TrimPrefix(r.URL.Path, "/service/")
	service, op, ok := strings.Cut(rest, "/operation/")
	if !ok || service != cloudWatchRPC {
		s.t.Errorf("awsserver: %s %s: not a CloudWatch RPC v2 request", r.Method, r.URL.Path)
		writeCBORError(w, errorf(http.StatusNotFound, "UnknownOperationException", "awsserver: unknown path %s", r.URL.Path))
		return
	}
	if e := checkRequest(r, body, cborContentType); e != nil {
		writeCBORError(w, e)
		return
	}
	if p := r.Header.Get("Smithy-Protocol"); p != "rpc-v2-cbor" {
		writeCBORError(w, errorf(http.StatusBadRequest, "SerializationException", "awsserver: Smithy-Protocol header %q, want rpc-v2-cbor", p))
		return
	}
	h, ok := cloudWatchOperations[op]
	if !ok {
		s.t.Errorf("awsserver: cloudwatch operation %s is not implemented by the test server", op)
		writeCBORError(w, errorf(http.StatusBadRequest, "UnknownOperationException", "awsserver: cloudwatch operation %s is not implemented by the test server", op))
		return
	}
	v, err := decodeCBOR(body)
	if err != nil {
		writeCBORError(w, errorf(http.StatusBadRequest, "SerializationException", "awsserver: %s request body: %v", op, err))
		return
	}
	input, ok := v.(map[string]any)
	if !ok {
		writeCBORError(w, errorf(http.StatusBadRequest, "SerializationException", "awsserver: %s request body is a %T, want a map", op, v))
		return
	}
	asJSON, err := json.Marshal(jsonSafe(input))
	if err != nil {
		writeCBORError(w, errorf(http.StatusBadRequest, "SerializationException", "awsserver: %s request cannot be shown as JSON: %v", op, err))
		return
	}
	if _, e := s.dispatch(ServiceCloudWatch, op, request{body: body, input: input}, asJSON, h); e != nil {
		writeCBORError(w, e)
		return
	}
	w.Header().Set("Content-Type", cborContentType)
	w.Header().Set("Smithy-Protocol", "rpc-v2-cbor")
	w.Header().Set("X-Amzn-RequestId", newUUID())
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte{0xa0}) // an empty map: PutMetricData has no output members
}

// jsonSafe replaces what encoding/json cannot write (NaN, ±Inf) by strings.
func jsonSafe(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = jsonSafe(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = jsonSafe(e)
		}
		return out
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return fmt.Sprint(x)
		}
	}
	return v
}

func writeCBORError(w http.ResponseWriter, e *apiError) {
	w.Header().Set("Content-Type", cborContentType)
	w.Header().Set("Smithy-Protocol", "rpc-v2-cbor")
	w.Header().Set("X-Amzn-RequestId", newUUID())
	w.WriteHeader(e.status)
	_, _ = w.Write(encodeCBORStrings(map[string]string{"__type": e.code, "message": e.message}))
}

func cwInvalid(format string, args ...any) *apiError {
	return errorf(http.StatusBadRequest, "InvalidParameterValueException", format, args...)
}

func cwMissing(format string, args ...any) *apiError {
	return errorf(http.StatusBadRequest, "MissingRequiredParameterException", format, args...)
}

func (s *Server) putMetricData(req request) (any, *apiError) {
	ns, _ := req.input["Namespace"].(string)
	if ns == "" {
		return nil, cwMissing("The parameter Namespace is required.")
	}
	if strings.HasPrefix(ns, "AWS/") {
		return nil, cwInvalid("The value %s for parameter Namespace is invalid: the AWS/ prefix is reserved.", ns)
	}
	data, _ := req.input["MetricData"].([]any)
	if len(data) == 0 || len(data) > 1000 {
		return nil, cwMissing("The parameter MetricData must hold 1 to 1000 items, got %d.", len(data))
	}
	ms := make([]Metric, 0, len(data))
	for i, d := range data {
		m, e := decodeDatum(ns, i, d)
		if e != nil {
			return nil, e
		}
		ms = append(ms, m)
	}
	s.metrics = append(s.metrics, ms...)
	return nil, nil
}

func decodeDatum(ns string, i int, v any) (Metric, *apiError) {
	d, ok := v.(map[string]any)
	if !ok {
		return Metric{}, cwInvalid("MetricData.member.%d is a %T, want a structure.", i+1, v)
	}
	m := Metric{Namespace: ns, Dimensions: map[string]string{}}
	m.Name, _ = d["MetricName"].(string)
	if m.Name == "" {
		return Metric{}, cwMissing("The parameter MetricData.member.%d.MetricName is required.", i+1)
	}
	dims, _ := d["Dimensions"].([]any)
	if len(dims) > 30 {
		return Metric{}, cwInvalid("MetricData.member.%d has %d dimensions; at most 30 are allowed.", i+1, len(dims))
	}
	for j, dv := range dims {
		dm, _ := dv.(map[string]any)
		name, _ := dm["Name"].(string)
		value, _ := dm["Value"].(string)
		if name == "" || value == "" {
			return Metric{}, cwMissing("MetricData.member.%d.Dimensions.member.%d needs a Name and a Value.", i+1, j+1)
		}
		m.Dimensions[name] = value
	}
	var e *apiError
	if m.Value, e = cborNumber(d["Value"], "Value", i); e != nil {
		return Metric{}, e
	}
	if m.Values, e = cborNumbers(d["Values"], "Values", i); e != nil {
		return Metric{}, e
	}
	if m.Counts, e = cborNumbers(d["Counts"], "Counts", i); e != nil {
		return Metric{}, e
	}
	if sv, ok := d["StatisticValues"].(map[string]any); ok {
		var set StatisticSet
		for name, dst := range map[string]*float64{"SampleCount": &set.SampleCount, "Sum": &set.Sum, "Minimum": &set.Minimum, "Maximum": &set.Maximum} {
			if *dst, e = cborNumber(sv[name], "StatisticValues."+name, i); e != nil {
				return Metric{}, e
			}
		}
		m.StatisticValues = &set
	}
	m.Unit, _ = d["Unit"].(string)
	if ts, ok := d["Timestamp"].(time.Time); ok {
		m.Timestamp = ts
	}
	if r, err := cborNumber(d["StorageResolution"], "StorageResolution", i); err == nil {
		m.StorageResolution = int(r)
	}
	return m, nil
}

// cborNumber reads an optional number; absent is 0.
func cborNumber(v any, member string, i int) (float64, *apiError) {
	var f float64
	switch n := v.(type) {
	case nil:
		return 0, nil
	case float64:
		f = n
	case uint64:
		f = float64(n)
	case int64:
		f = float64(n)
	default:
		return 0, cwInvalid("MetricData.member.%d.%s is a %T, want a number.", i+1, member, v)
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, cwInvalid("The value %v for parameter MetricData.member.%d.%s is invalid.", f, i+1, member)
	}
	return f, nil
}

func cborNumbers(v any, member string, i int) ([]float64, *apiError) {
	if v == nil {
		return nil, nil
	}
	list, ok := v.([]any)
	if !ok {
		return nil, cwInvalid("MetricData.member.%d.%s is a %T, want a list.", i+1, member, v)
	}
	out := make([]float64, len(list))
	for j, e := range list {
		f, err := cborNumber(e, fmt.Sprintf("%s.member.%d", member, j+1), i)
		if err != nil {
			return nil, err
		}
		out[j] = f
	}
	return out, nil
}
