// Package exitcode classifies errors into the exit codes of cascade's public
// contract (docs/contract.md, "Exit codes"). Packages wrap an error with one of the
// constructors below where they know its class; main maps the error chain to
// a process exit code with Of. Wrapping with fmt.Errorf("...: %w", err) keeps
// the class.
package exitcode

import "errors"

// The documented exit codes.
const (
	OK        = 0 // success, including "nothing to do"
	Internal  = 1 // internal error (a bug)
	Invalid   = 2 // invalid input or config — nothing was touched
	Partial   = 3 // partial failure — some targets failed
	Transient = 4 // transient failure, retries exhausted, before any write
	Refused   = 5 // refused for safety
	// Interrupted: the run was cancelled (SIGINT, SIGTERM, a deadline)
	// part-way; the report lists what was done before it stopped, and what
	// was dispatched is recorded, so a re-run does only the rest. 130 is
	// the shells' code for a job ended by SIGINT.
	Interrupted = 130
)

// Error carries an exit code class alongside the wrapped error.
type Error struct {
	Code int
	Err  error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

func wrap(code int, err error) error {
	if err == nil {
		return nil
	}
	return &Error{Code: code, Err: err}
}

// AsInvalid marks err as invalid input or configuration (exit 2).
func AsInvalid(err error) error { return wrap(Invalid, err) }

// AsPartial marks err as a partial failure (exit 3).
func AsPartial(err error) error { return wrap(Partial, err) }

// AsTransient marks err as transient with retries exhausted (exit 4).
func AsTransient(err error) error { return wrap(Transient, err) }

// AsRefused marks err as refused for safety (exit 5).
func AsRefused(err error) error { return wrap(Refused, err) }

// AsInterrupted marks err as a cancelled run (exit 130).
func AsInterrupted(err error) error { return wrap(Interrupted, err) }

// Of returns the exit code for err: 0 for nil, the code of the outermost
// classified error in the chain, or Internal when nothing classified it.
// For a joined error (errors.Join) the highest code among its parts wins, so
// that a refusal is never hidden behind an invalid-input error.
func Of(err error) int {
	if err == nil {
		return OK
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		best := Internal
		for _, part := range j.Unwrap() {
			if c := Of(part); c != Internal && (best == Internal || c > best) {
				best = c
			}
		}
		return best
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return Internal
}
