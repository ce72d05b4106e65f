package config

import (
	"bytes"
	"encoding/json"
	"reflect"
	"slices"
)

//go:generate go run ./cmd/genschema -o ../../docs/policy.schema.json

// Schema returns the JSON Schema (draft 2020-12) of a policy's YAML,
// generated from the spec types: their `yaml` tags give the keys, `doc`
// tags the descriptions and `nfv` tags the bounds, and types with a string
// form of their own describe it with a jsonSchema method. The output is
// deterministic; docs/policy.schema.json holds a copy that a test keeps in
// step (regenerate it with go generate ./pkg/config).
func Schema() ([]byte, error) {
	g := &schemaGen{defs: map[string]obj{}}
	policy := reflect.TypeFor[Policy]()
	root := obj{}.
		set("$schema", "https://json-schema.org/draft/2020-12/schema").
		set("$id", "https://github.com/nfvkit/nfvkit/blob/main/docs/policy.schema.json").
		set("title", "nfvkit appliance policy").
		set("description", "One YAML document configuring one nfvkit appliance: a router, a firewall or an ipsec-gw. The appliance key decides which sections are allowed.")
	root = append(root, g.structSchema(policy)...)
	root = root.set("allOf", applianceRules(policy))
	names := make([]string, 0, len(g.defs))
	for n := range g.defs {
		names = append(names, n)
	}
	slices.Sort(names)
	defs := obj{}
	for _, n := range names {
		defs = defs.set(n, g.defs[n])
	}
	root = root.set("$defs", defs)

	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(root); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// obj is a JSON object that keeps its keys in the order they were set.
type obj []kv

type kv struct {
	k string
	v any
}

func (o obj) set(k string, v any) obj {
	n := make(obj, len(o), len(o)+1)
	copy(n, o)
	return append(n, kv{k, v})
}

func (o obj) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	b.WriteByte('{')
	for i, e := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		if err := enc.Encode(e.k); err != nil {
			return nil, err
		}
		b.Truncate(b.Len() - 1) // Encode's newline
		b.WriteByte(':')
		if err := enc.Encode(e.v); err != nil {
			return nil, err
		}
		b.Truncate(b.Len() - 1)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

type schemaType interface{ jsonSchema() obj }

// schemaExtra adds keywords to a struct's schema that field tags cannot
// say, such as which keys go together.
type schemaExtra interface{ jsonSchemaExtra() obj }

type schemaGen struct {
	defs map[string]obj
}

func (g *schemaGen) structSchema(t reflect.Type) obj {
	props := obj{}
	var required []string
	for _, f := range structOf(t).fields {
		s := g.typeSchema(t.Field(f.index).Type, f.opts)
		if f.doc != "" {
			s = append(obj{{"description", f.doc}}, s...)
		}
		props = props.set(f.name, s)
		if f.required {
			required = append(required, f.name)
		}
	}
	o := obj{}.set("type", "object").set("properties", props)
	if len(required) > 0 {
		o = o.set("required", required)
	}
	o = o.set("additionalProperties", false)
	if x, ok := reflect.New(t).Elem().Interface().(schemaExtra); ok {
		o = append(o, x.jsonSchemaExtra()...)
	}
	return o
}

func (g *schemaGen) typeSchema(t reflect.Type, o opts) obj {
	if x, ok := reflect.New(t).Elem().Interface().(schemaType); ok {
		return x.jsonSchema()
	}
	switch t {
	case addrType:
		return addrSchema()
	case prefixType:
		return prefixSchema(o)
	case addrPortType:
		return obj{}.set("type", "string").set("pattern", `^([0-9.]+|\[[0-9A-Fa-f:.]+\]):[0-9]{1,5}$`).
			set("examples", []string{"203.0.113.9:51820", "[2001:db8::9]:51820"})
	case durationType:
		return obj{}.set("type", "string").set("pattern", `^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`).
			set("examples", []string{"30s", "5m", "2h"})
	}
	switch t.Kind() {
	case reflect.String:
		return obj{}.set("type", "string")
	case reflect.Bool:
		return obj{}.set("type", "boolean")
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		lo, hi := bounds(t, o)
		return obj{}.set("type", "integer").set("minimum", lo).set("maximum", hi)
	case reflect.Pointer:
		return g.typeSchema(t.Elem(), o)
	case reflect.Slice:
		eo := o
		eo.nonempty = false
		item := g.typeSchema(t.Elem(), eo)
		arr := obj{}.set("type", "array").set("items", item)
		if o.nonempty {
			arr = arr.set("minItems", 1)
		}
		if _, one := reflect.New(t).Interface().(oneOrMany); one {
			return obj{}.set("anyOf", []obj{item, arr})
		}
		return arr
	case reflect.Struct:
		name := t.Name()
		if _, ok := g.defs[name]; !ok {
			g.defs[name] = nil // placeholder against recursion
			g.defs[name] = g.structSchema(t)
		}
		return obj{}.set("$ref", "#/$defs/"+name)
	}
	return obj{}
}

func addrSchema() obj {
	return obj{}.set("type", "string").set("anyOf", []obj{
		obj{}.set("format", "ipv4"), obj{}.set("format", "ipv6"),
	}).set("pattern", `^[0-9A-Fa-f:.]+$`).set("examples", []string{"192.0.2.1", "2001:db8::1"})
}

func prefixSchema(o opts) obj {
	switch {
	case o.host:
		return obj{}.set("type", "string").set("pattern", `^[0-9A-Fa-f:.]+/[0-9]{1,3}$`).
			set("examples", []string{"192.0.2.1/24", "2001:db8:1::1/64"})
	case o.network:
		return obj{}.set("type", "string").set("pattern", `^[0-9A-Fa-f:.]+(/[0-9]{1,3})?$`).
			set("examples", []string{"192.0.2.0/24", "2001:db8::/32", "192.0.2.10"})
	}
	return obj{}.set("type", "string").set("pattern", `^[0-9A-Fa-f:.]+/[0-9]{1,3}$`)
}

// applianceRules forbids, per appliance, the sections that belong to others.
func applianceRules(policy reflect.Type) []obj {
	var rules []obj
	for _, a := range Appliances {
		deny := obj{}
		for _, f := range structOf(policy).fields {
			if f.only != nil && !slices.Contains(f.only, a) {
				deny = deny.set(f.name, false)
			}
		}
		rules = append(rules, obj{}.
			set("if", obj{}.set("properties", obj{}.set("appliance", obj{}.set("const", a))).set("required", []string{"appliance"})).
			set("then", obj{}.set("properties", deny)))
	}
	return rules
}

func (Interface) jsonSchemaExtra() obj {
	return obj{}.
		set("if", obj{}.set("required", []string{"parent"})).
		set("then", obj{}.set("required", []string{"vlan"}).set("properties", obj{}.set("port", false))).
		set("else", obj{}.set("required", []string{"port"}).set("properties", obj{}.set("vlan", false)))
}

func (NAT) jsonSchemaExtra() obj {
	rule := func(t NATType, required []string, deny ...string) obj {
		d := obj{}
		for _, k := range deny {
			d = d.set(k, false)
		}
		return obj{}.
			set("if", obj{}.set("properties", obj{}.set("type", obj{}.set("const", t)))).
			set("then", obj{}.set("required", required).set("properties", d))
	}
	return obj{}.set("allOf", []obj{
		rule(Masquerade, []string{"out"}, "in", "proto", "dport", "to"),
		rule(SNAT, []string{"out", "to"}, "in", "proto", "dport"),
		rule(DNAT, []string{"in", "to"}, "out"),
	})
}
