package config

import (
	"errors"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// FuzzParse feeds arbitrary bytes to Parse. Seeds: testdata/fuzz/FuzzParse
// and the example policies. It checks that Parse never panics, that every
// error is positioned and the list sorted, that parsing is deterministic,
// and that an accepted policy survives being written back as YAML.
func FuzzParse(f *testing.F) {
	for _, file := range examples(f) {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse("fuzz.yaml", data)
		if err != nil {
			var list ErrorList
			if !errors.As(err, &list) || len(list) == 0 || len(list) > maxErrors {
				t.Fatalf("bad error list (%T): %v", err, err)
			}
			for i, e := range list {
				if e.File != "fuzz.yaml" || e.Line < 1 || e.Col < 1 || e.Msg == "" {
					t.Fatalf("error without a position: %#v", e)
				}
				if i > 0 && (e.Line < list[i-1].Line || e.Line == list[i-1].Line && e.Col < list[i-1].Col) {
					t.Fatalf("errors not sorted: %v", err)
				}
			}
			if p != nil {
				t.Fatal("policy returned with errors")
			}
			return
		}
		if p == nil {
			t.Fatal("no policy and no error")
		}
		q, err := Parse("fuzz.yaml", data)
		if err != nil || !reflect.DeepEqual(p, q) {
			t.Fatal("second parse differs")
		}
		out, err := yaml.Marshal(p)
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		if strings.Contains(string(out), Redacted) {
			return // inline secrets are written redacted: no round trip
		}
		r, err := Parse("roundtrip.yaml", out)
		if err != nil {
			t.Fatalf("re-parse of marshalled policy: %v\n%s", err, out)
		}
		clearPos(reflect.ValueOf(p))
		clearPos(reflect.ValueOf(r))
		if !reflect.DeepEqual(p, r) {
			t.Fatalf("round trip changed the policy:\n%s", out)
		}
	})
}

// TestFuzzCorpusParses keeps the seed corpus meaningful: it must hold both
// valid policies and ones with errors.
func TestFuzzCorpusParses(t *testing.T) {
	entries, err := os.ReadDir("testdata/fuzz/FuzzParse")
	if err != nil || len(entries) == 0 {
		t.Fatalf("no seed corpus: %v", err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if !slices.Contains(names, "router-flow") || !slices.Contains(names, "alias-bomb") {
		t.Errorf("corpus is missing seeds: %v", names)
	}
}
