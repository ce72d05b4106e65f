package config

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"
)

const schemaFile = "../../docs/policy.schema.json"

// TestSchemaUpToDate fails while docs/policy.schema.json differs from what
// the Go types generate.
func TestSchemaUpToDate(t *testing.T) {
	want, err := Schema()
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(schemaFile)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("docs/policy.schema.json is stale or missing (%v); regenerate it from the repository root with\n\tgo run ./pkg/config/cmd/genschema -o docs/policy.schema.json\nor: go generate ./pkg/config", err)
	}
	again, _ := Schema()
	if !bytes.Equal(again, want) {
		t.Error("Schema is not deterministic")
	}
	if !json.Valid(want) {
		t.Error("Schema is not valid JSON")
	}
}

func compileSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	b, err := Schema()
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("policy.schema.json", doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile("policy.schema.json")
	if err != nil {
		t.Fatalf("schema does not compile: %v", err)
	}
	return s
}

// yamlInstance turns YAML into the JSON value a schema validator takes.
func yamlInstance(t *testing.T, src []byte) any {
	t.Helper()
	var v any
	if err := yaml.Unmarshal(src, &v); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return inst
}

func TestSchemaValidatesExamples(t *testing.T) {
	s := compileSchema(t)
	files := append(examples(t), "testdata/five-mistakes.yaml")
	for _, file := range files {
		src, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		err = s.Validate(yamlInstance(t, src))
		if strings.Contains(file, "mistakes") {
			if err == nil {
				t.Errorf("%s: schema accepts it", filepath.Base(file))
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", filepath.Base(file), err)
		}
	}
}

// TestSchemaRejects checks that the schema, not only Parse, catches the
// mistakes an editor should underline.
func TestSchemaRejects(t *testing.T) {
	s := compileSchema(t)
	bad := map[string]string{
		"router with rules":    routerBase + "rules: [{action: accept}]\n",
		"firewall with ike":    firewallBase + "ike: []\n",
		"unknown key":          routerBase + "colour: blue\n",
		"bad appliance":        strings.Replace(routerBase, "router", "switch", 1),
		"bad port spec":        "appliance: router\ninterfaces: [{name: lan, port: eth0}]\n",
		"no port, no parent":   "appliance: router\ninterfaces: [{name: lan}]\n",
		"vlan with port":       routerBase + "  - {name: v, parent: lan, vlan: 2, port: virtio:3}\n",
		"mtu out of range":     "appliance: router\ninterfaces: [{name: lan, port: virtio:0, mtu: 70000}]\n",
		"bad action":           firewallBase + "rules: [{action: allow}]\n",
		"bad proposal":         ipsecBase + "ike: [{name: a, peer: 203.0.113.1, auth: {psk: env:A}, proposals: [aes256-sha1], children: [{local: 10.0.0.0/8, remote: 10.1.0.0/16}]}]\n",
		"masquerade with to":   firewallBase + "nat: [{type: masquerade, out: wan, to: 198.51.100.2}]\n",
		"duration as a number": firewallBase + "conntrack: {timeouts: {udp: 30}}\n",
	}
	for name, src := range bad {
		if err := s.Validate(yamlInstance(t, []byte(src))); err == nil {
			t.Errorf("%s: schema accepts it", name)
		}
	}
	for _, src := range []string{routerBase, firewallBase, ipsecBase} {
		if err := s.Validate(yamlInstance(t, []byte(src))); err != nil {
			t.Errorf("schema rejects a valid base policy: %v", err)
		}
	}
}
