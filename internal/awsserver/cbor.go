package awsserver

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sort"
	"time"
)

// This file holds the small CBOR (RFC 8949) codec the CloudWatch fake needs:
// the SDK sends PutMetricData as Smithy RPC v2 CBOR. The decoder reads every
// well-formed item into plain Go values; the encoder writes only what replies
// need (maps of text strings).

// maxCBORDepth bounds nesting so that a hostile body cannot exhaust the stack.
const maxCBORDepth = 64

// cborBreak is the sentinel the decoder returns for the "break" stop code that
// ends an indefinite-length item.
type cborBreak struct{}

// decodeCBOR decodes exactly one CBOR data item from p. The Go types are:
// uint64 or int64 (a negative integer), big negatives beyond int64 as
// float64, []byte, string, []any, map[string]any (non-text keys are
// written with fmt's %v), time.Time (tag 1), bool, nil (null and undefined)
// and float64. Other tags yield their content.
func decodeCBOR(p []byte) (any, error) {
	d := cborDecoder{p: p}
	v, err := d.item(0)
	if err != nil {
		return nil, err
	}
	if _, ok := v.(cborBreak); ok {
		return nil, errors.New("cbor: unexpected break code at offset 0")
	}
	if d.off != len(d.p) {
		return nil, fmt.Errorf("cbor: %d trailing bytes after the data item", len(d.p)-d.off)
	}
	return v, nil
}

type cborDecoder struct {
	p   []byte
	off int
}

func (d *cborDecoder) errorf(format string, args ...any) error {
	return fmt.Errorf("cbor: offset %d: %s", d.off, fmt.Sprintf(format, args...))
}

func (d *cborDecoder) byte() (byte, error) {
	if d.off >= len(d.p) {
		return 0, d.errorf("unexpected end of data")
	}
	b := d.p[d.off]
	d.off++
	return b, nil
}

func (d *cborDecoder) take(n uint64) ([]byte, error) {
	if n > uint64(len(d.p)-d.off) {
		return nil, d.errorf("length %d runs past the end of the data (%d bytes left)", n, len(d.p)-d.off)
	}
	b := d.p[d.off : d.off+int(n)]
	d.off += int(n)
	return b, nil
}

// argument reads the argument that follows an initial byte with additional
// information info. indefinite is true for info 31.
func (d *cborDecoder) argument(info byte) (arg uint64, indefinite bool, err error) {
	switch {
	case info < 24:
		return uint64(info), false, nil
	case info == 24:
		b, err := d.take(1)
		if err != nil {
			return 0, false, err
		}
		return uint64(b[0]), false, nil
	case info == 25:
		b, err := d.take(2)
		if err != nil {
			return 0, false, err
		}
		return uint64(binary.BigEndian.Uint16(b)), false, nil
	case info == 26:
		b, err := d.take(4)
		if err != nil {
			return 0, false, err
		}
		return uint64(binary.BigEndian.Uint32(b)), false, nil
	case info == 27:
		b, err := d.take(8)
		if err != nil {
			return 0, false, err
		}
		return binary.BigEndian.Uint64(b), false, nil
	case info == 31:
		return 0, true, nil
	default:
		return 0, false, d.errorf("reserved additional information %d", info)
	}
}

func (d *cborDecoder) item(depth int) (any, error) {
	if depth > maxCBORDepth {
		return nil, d.errorf("nesting deeper than %d", maxCBORDepth)
	}
	ib, err := d.byte()
	if err != nil {
		return nil, err
	}
	major, info := ib>>5, ib&0x1f
	if major == 7 {
		return d.simple(info)
	}
	arg, indefinite, err := d.argument(info)
	if err != nil {
		return nil, err
	}
	if indefinite && (major == 0 || major == 1 || major == 6) {
		return nil, d.errorf("major type %d cannot have indefinite length", major)
	}
	switch major {
	case 0:
		return arg, nil
	case 1:
		if arg > math.MaxInt64 {
			return -1 - float64(arg), nil
		}
		return -1 - int64(arg), nil
	case 2, 3:
		b, err := d.stringBytes(major, arg, indefinite)
		if err != nil {
			return nil, err
		}
		if major == 3 {
			return string(b), nil
		}
		return b, nil
	case 4:
		return d.array(arg, indefinite, depth)
	case 5:
		return d.mapItem(arg, indefinite, depth)
	default: // 6: tag
		v, err := d.item(depth + 1)
		if err != nil {
			return nil, err
		}
		if _, ok := v.(cborBreak); ok {
			return nil, d.errorf("tag %d has no content", arg)
		}
		if arg == 1 {
			return cborEpoch(v)
		}
		return v, nil
	}
}

func (d *cborDecoder) simple(info byte) (any, error) {
	switch info {
	case 20:
		return false, nil
	case 21:
		return true, nil
	case 22, 23:
		return nil, nil
	case 24:
		b, err := d.take(1)
		if err != nil {
			return nil, err
		}
		if b[0] < 32 {
			return nil, d.errorf("simple value %d must use the one-byte form", b[0])
		}
		return uint64(b[0]), nil
	case 25:
		b, err := d.take(2)
		if err != nil {
			return nil, err
		}
		return halfToFloat(binary.BigEndian.Uint16(b)), nil
	case 26:
		b, err := d.take(4)
		if err != nil {
			return nil, err
		}
		return float64(math.Float32frombits(binary.BigEndian.Uint32(b))), nil
	case 27:
		b, err := d.take(8)
		if err != nil {
			return nil, err
		}
		return math.Float64frombits(binary.BigEndian.Uint64(b)), nil
	case 31:
		return cborBreak{}, nil
	default:
		if info < 20 {
			return uint64(info), nil
		}
		return nil, d.errorf("reserved simple value encoding %d", info)
	}
}

func (d *cborDecoder) stringBytes(major byte, n uint64, indefinite bool) ([]byte, error) {
	if !indefinite {
		return d.take(n)
	}
	var out []byte
	for {
		ib, err := d.byte()
		if err != nil {
			return nil, err
		}
		if ib == 0xff {
			return out, nil
		}
		if ib>>5 != major {
			return nil, d.errorf("chunk of major type %d inside an indefinite string of major type %d", ib>>5, major)
		}
		cn, ind, err := d.argument(ib & 0x1f)
		if err != nil {
			return nil, err
		}
		if ind {
			return nil, d.errorf("nested indefinite-length string chunk")
		}
		chunk, err := d.take(cn)
		if err != nil {
			return nil, err
		}
		out = append(out, chunk...)
	}
}

func (d *cborDecoder) array(n uint64, indefinite bool, depth int) ([]any, error) {
	var out []any
	if !indefinite {
		// Every element takes at least one byte, so the remaining data bounds
		// a sane capacity.
		if n > uint64(len(d.p)-d.off) {
			return nil, d.errorf("array of %d items cannot fit in %d bytes", n, len(d.p)-d.off)
		}
		out = make([]any, 0, n)
	}
	for i := uint64(0); indefinite || i < n; i++ {
		v, err := d.item(depth + 1)
		if err != nil {
			return nil, err
		}
		if _, ok := v.(cborBreak); ok {
			if !indefinite {
				return nil, d.errorf("unexpected break code inside a definite-length array")
			}
			return out, nil
		}
		out = append(out, v)
	}
	return out, nil
}

func (d *cborDecoder) mapItem(n uint64, indefinite bool, depth int) (map[string]any, error) {
	if !indefinite && n > uint64(len(d.p)-d.off)/2 {
		return nil, d.errorf("map of %d pairs cannot fit in %d bytes", n, len(d.p)-d.off)
	}
	out := map[string]any{}
	for i := uint64(0); indefinite || i < n; i++ {
		k, err := d.item(depth + 1)
		if err != nil {
			return nil, err
		}
		if _, ok := k.(cborBreak); ok {
			if !indefinite {
				return nil, d.errorf("unexpected break code inside a definite-length map")
			}
			return out, nil
		}
		v, err := d.item(depth + 1)
		if err != nil {
			return nil, err
		}
		if _, ok := v.(cborBreak); ok {
			return nil, d.errorf("map key %v has no value", k)
		}
		key, ok := k.(string)
		if !ok {
			key = fmt.Sprintf("%v", k)
		}
		out[key] = v
	}
	return out, nil
}

// cborEpoch converts the content of tag 1 (seconds since the Unix epoch).
func cborEpoch(v any) (time.Time, error) {
	var secs float64
	switch n := v.(type) {
	case uint64:
		secs = float64(n)
	case int64:
		secs = float64(n)
	case float64:
		secs = n
	default:
		return time.Time{}, fmt.Errorf("cbor: epoch timestamp (tag 1) holds %T, want a number", v)
	}
	if math.IsNaN(secs) || math.IsInf(secs, 0) || math.Abs(secs) > 1e12 {
		return time.Time{}, fmt.Errorf("cbor: epoch timestamp %v is out of range", secs)
	}
	whole, frac := math.Modf(secs)
	return time.Unix(int64(whole), int64(math.Round(frac*1e9))).UTC(), nil
}

// halfToFloat converts an IEEE 754 half-precision value.
func halfToFloat(h uint16) float64 {
	sign := 1.0
	if h&0x8000 != 0 {
		sign = -1
	}
	exp := int(h>>10) & 0x1f
	mant := float64(h & 0x3ff)
	switch exp {
	case 0:
		return sign * math.Ldexp(mant, -24)
	case 31:
		if mant == 0 {
			return math.Inf(int(sign))
		}
		return math.NaN()
	default:
		return sign * math.Ldexp(mant+1024, exp-25)
	}
}

// encodeCBORStrings encodes a map of text strings, keys in sorted order.
func encodeCBORStrings(m map[string]string) []byte {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := cborHead(nil, 5, uint64(len(m)))
	for _, k := range keys {
		out = cborHead(out, 3, uint64(len(k)))
		out = append(out, k...)
		out = cborHead(out, 3, uint64(len(m[k])))
		out = append(out, m[k]...)
	}
	return out
}

// cborHead appends the initial byte and argument of an item.
func cborHead(out []byte, major byte, n uint64) []byte {
	mt := major << 5
	switch {
	case n < 24:
		return append(out, mt|byte(n))
	case n <= math.MaxUint8:
		return append(out, mt|24, byte(n))
	case n <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(out, mt|25), uint16(n))
	case n <= math.MaxUint32:
		return binary.BigEndian.AppendUint32(append(out, mt|26), uint32(n))
	default:
		return binary.BigEndian.AppendUint64(append(out, mt|27), n)
	}
}
