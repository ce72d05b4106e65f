package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Load reads and parses the policy file at path. See Parse.
func Load(path string) (*Policy, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("load policy: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxPolicySize+1))
	if err != nil {
		return nil, fmt.Errorf("load policy: %w", err)
	}
	return Parse(path, data)
}

// Parse decodes and checks one policy document; name is the file name that
// messages carry. It returns the Policy, with defaults filled in, or an
// ErrorList holding every problem found, sorted by position, and no Policy.
// Parse is pure: it reads nothing but data, and equal inputs give equal
// results.
func Parse(name string, data []byte) (*Policy, error) {
	if len(data) > MaxPolicySize {
		return nil, ErrorList{{File: name, Line: 1, Col: 1,
			Msg: fmt.Sprintf("policy is larger than %d bytes (expected a smaller file)", MaxPolicySize)}}
	}
	root, err := parseYAML(name, data)
	if err != nil {
		return nil, err
	}
	d := newDecoder(name)
	p := &Policy{Source: name}
	d.policy(p, root)
	if !d.over {
		check(d, p)
	}
	if len(d.errs) > 0 {
		return nil, d.errs.sorted()
	}
	return p, nil
}

// parseYAML returns the root node of the only document in data.
func parseYAML(name string, data []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	err := safeDecode(dec, &doc)
	if errors.Is(err, io.EOF) || err == nil && len(doc.Content) == 0 {
		return nil, ErrorList{{File: name, Line: 1, Col: 1,
			Msg: "empty policy (expected a mapping that starts with appliance: router, firewall or ipsec-gw)"}}
	}
	if err != nil {
		return nil, yamlError(name, err)
	}
	var extra yaml.Node
	switch err := safeDecode(dec, &extra); {
	case errors.Is(err, io.EOF):
	case err != nil:
		return nil, yamlError(name, err)
	default:
		at := &extra
		if len(extra.Content) > 0 {
			at = extra.Content[0]
		}
		return nil, ErrorList{{File: name, Line: at.Line, Col: at.Column,
			Msg: "a second YAML document (expected one document per policy: one appliance per file)"}}
	}
	return doc.Content[0], nil
}

// safeDecode runs the YAML parser, turning any panic of its own into an
// error: no input may crash the caller.
func safeDecode(dec *yaml.Decoder, n *yaml.Node) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("yaml: parser failed: %v", r)
		}
	}()
	return dec.Decode(n)
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): `)

// yamlError turns a YAML syntax error into a positioned Error. The parser
// gives a line but no column.
func yamlError(name string, err error) error {
	msg, line := err.Error(), 1
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = msg[len(m[0]):]
	} else {
		msg = strings.TrimPrefix(msg, "yaml: ")
	}
	return ErrorList{{File: name, Line: max(line, 1), Col: 1, Msg: "invalid YAML: " + msg}}
}

// policy decodes the root mapping, allowing only the sections of the
// appliance it names.
func (d *decoder) policy(p *Policy, n *yaml.Node) {
	if n.Kind == yaml.ScalarNode && n.ShortTag() != "!!null" || n.Kind == yaml.SequenceNode || n.Kind == yaml.AliasNode {
		d.errorf(n, "", "got %s (expected a mapping that starts with appliance: router, firewall or ipsec-gw)", describe(n))
		return
	}
	if n.Kind != yaml.MappingNode {
		d.errorf(n, "", "empty policy (expected a mapping that starts with appliance: router, firewall or ipsec-gw)")
		return
	}
	d.mapping(reflectOf(p), n, "", func(f field) error {
		if f.only == nil || p.Appliance == "" || slices.Contains(f.only, p.Appliance) {
			return nil
		}
		return fmt.Errorf("section %s is not allowed in a %s policy (expected it only in %s policies)", quote(f.name), p.Appliance, orList(f.only))
	})
}
