package config

import (
	"encoding"
	"reflect"
	"time"

	"go.yaml.in/yaml/v3"
)

// MarshalYAML writes the policy back as YAML that Parse reads to an equal
// Policy (inline secrets aside: they are written redacted). It mirrors the
// decoder: keys in struct order, optional keys left out when zero. yaml's
// own omitempty cannot be used, as it takes netip values for zero.
func (p Policy) MarshalYAML() (any, error) {
	return encodeStruct(reflect.ValueOf(p))
}

func encodeStruct(v reflect.Value) (*yaml.Node, error) {
	m := &yaml.Node{Kind: yaml.MappingNode}
	for _, f := range structOf(v.Type()).fields {
		fv := v.Field(f.index)
		if !f.required && (fv.IsZero() || fv.Kind() == reflect.Slice && fv.Len() == 0) {
			continue
		}
		val, err := encodeValue(fv)
		if err != nil {
			return nil, err
		}
		m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: f.name}, val)
	}
	return m, nil
}

func encodeValue(v reflect.Value) (*yaml.Node, error) {
	var leaf any
	switch x := v.Interface().(type) {
	case yaml.Marshaler:
		y, err := x.MarshalYAML()
		if err != nil {
			return nil, err
		}
		if n, ok := y.(*yaml.Node); ok {
			return n, nil
		}
		leaf = y
	case time.Duration:
		leaf = x.String()
	case encoding.TextMarshaler:
		b, err := x.MarshalText()
		if err != nil {
			return nil, err
		}
		leaf = string(b)
	default:
		switch v.Kind() {
		case reflect.Pointer:
			return encodeValue(v.Elem())
		case reflect.Struct:
			return encodeStruct(v)
		case reflect.Slice:
			s := &yaml.Node{Kind: yaml.SequenceNode}
			for i := range v.Len() {
				n, err := encodeValue(v.Index(i))
				if err != nil {
					return nil, err
				}
				s.Content = append(s.Content, n)
			}
			return s, nil
		}
		leaf = x
	}
	n := &yaml.Node{}
	if err := n.Encode(leaf); err != nil {
		return nil, err
	}
	return n, nil
}
