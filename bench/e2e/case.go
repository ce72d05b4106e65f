package e2e

import "errors"

// Unavailable is a case that cannot run here; the report says n/a (Reason).
type Unavailable struct{ Reason string }

func (u *Unavailable) Error() string { return "n/a (" + u.Reason + ")" }

// IsUnavailable reports whether err says the case cannot run here.
func IsUnavailable(err error) (*Unavailable, bool) {
	var u *Unavailable
	ok := errors.As(err, &u)
	return u, ok
}
