package awsserver

import (
	"encoding/hex"
	"math"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestDecodeCBOR(t *testing.T) {
	tests := []struct {
		hex  string
		want any
	}{
		{"00", uint64(0)},
		{"17", uint64(23)},
		{"1818", uint64(24)},
		{"1903e8", uint64(1000)},
		{"1a000f4240", uint64(1000000)},
		{"1b000000e8d4a51000", uint64(1000000000000)},
		{"20", int64(-1)},
		{"3903e7", int64(-1000)},
		{"f90000", 0.0},
		{"f93c00", 1.0},
		{"f9c400", -4.0},
		{"f97bff", 65504.0},
		{"f90001", 5.960464477539063e-08},
		{"fa47c35000", 100000.0},
		{"fb3ff199999999999a", 1.1},
		{"f4", false},
		{"f5", true},
		{"f6", nil},
		{"f7", nil},
		{"40", []byte{}},
		{"4401020304", []byte{1, 2, 3, 4}},
		{"6161", "a"},
		{"6449455446", "IETF"},
		{"62c3bc", "\u00fc"},
		{"7f657374726561646d696e67ff", "streaming"},
		{"5f42010243030405ff", []byte{1, 2, 3, 4, 5}},
		{"83010203", []any{uint64(1), uint64(2), uint64(3)}},
		{"9f018202039f0405ffff", []any{uint64(1), []any{uint64(2), uint64(3)}, []any{uint64(4), uint64(5)}}},
		{"a0", map[string]any{}},
		{"a26161016162820203", map[string]any{"a": uint64(1), "b": []any{uint64(2), uint64(3)}}},
		{"bf61610161629f0203ffff", map[string]any{"a": uint64(1), "b": []any{uint64(2), uint64(3)}}},
		{"a201020304", map[string]any{"1": uint64(2), "3": uint64(4)}},
		{"c11a514b67b0", time.Unix(1363896240, 0).UTC()},
		{"c1fb41d452d9ec200000", time.Unix(1363896240, 500000000).UTC()},
		{"d74401020304", []byte{1, 2, 3, 4}}, // other tags yield their content
	}
	for _, tt := range tests {
		b, err := hex.DecodeString(tt.hex)
		if err != nil {
			t.Fatal(err)
		}
		got, err := decodeCBOR(b)
		if err != nil {
			t.Errorf("decode %s: %v", tt.hex, err)
			continue
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("decode %s (-want +got):\n%s", tt.hex, diff)
		}
	}

	for _, special := range []struct {
		hex  string
		test func(float64) bool
	}{
		{"f97c00", func(f float64) bool { return math.IsInf(f, 1) }},
		{"f9fc00", func(f float64) bool { return math.IsInf(f, -1) }},
		{"f97e00", math.IsNaN},
	} {
		b, _ := hex.DecodeString(special.hex)
		v, err := decodeCBOR(b)
		if f, ok := v.(float64); err != nil || !ok || !special.test(f) {
			t.Errorf("decode %s: %v, %v", special.hex, v, err)
		}
	}
}

func TestDecodeCBORRejectsMalformed(t *testing.T) {
	for _, h := range []string{
		"",                   // nothing
		"18",                 // argument missing
		"1c",                 // reserved additional information
		"62c3",               // text shorter than its length
		"830102",             // array short of items
		"a16161",             // map key without value
		"ff",                 // lone break
		"9f01",               // unterminated indefinite array
		"7f6161",             // unterminated indefinite text
		"7f4161ff",           // byte chunk inside text
		"1f",                 // indefinite integer
		"c1",                 // tag without content
		"c16161",             // epoch that is not a number
		"0000",               // trailing bytes
		"9b00000000ffffffff", // huge array length
		"bb00000000ffffffff", // huge map length
		"f818",               // simple value in two bytes below 32
	} {
		b, _ := hex.DecodeString(h)
		if v, err := decodeCBOR(b); err == nil {
			t.Errorf("decode %q = %v, want an error", h, v)
		}
	}
	deep := make([]byte, 0, 200)
	for range 100 {
		deep = append(deep, 0x81)
	}
	deep = append(deep, 0x00)
	if _, err := decodeCBOR(deep); err == nil {
		t.Errorf("nesting of 100 arrays accepted")
	}
}

func TestEncodeCBORStrings(t *testing.T) {
	got := hex.EncodeToString(encodeCBORStrings(map[string]string{"message": "m", "__type": "ThrottlingException"}))
	want := "a2" + "665f5f74797065" + "735468726f74746c696e67457863657074696f6e" + "676d657373616765" + "616d"
	if got != want {
		t.Errorf("encode = %s, want %s", got, want)
	}
	v, err := decodeCBOR(encodeCBORStrings(map[string]string{"k": string(make([]byte, 300))}))
	if err != nil || len(v.(map[string]any)["k"].(string)) != 300 {
		t.Errorf("round trip of a 300-byte value: %v", err)
	}
}

func FuzzDecodeCBOR(f *testing.F) {
	for _, h := range []string{"a26161016162820203", "bf61610161629f0203ffff", "c1fb41d452d9ec200000", "7f657374726561646d696e67ff", "f97e00"} {
		b, _ := hex.DecodeString(h)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = decodeCBOR(data) // must not panic or hang
	})
}
