package run

// Progress receives a run's long stages for a live display (on a
// terminal, progress.Live). The spinner-free form is the info log: one
// line per stage and tier, which a live display does not replace.
type Progress interface {
	// Begin starts a stage ("dispatching tier 2") of total steps (0: not
	// counted).
	Begin(stage string, total int)
	// Step counts one step of the stage done. It may be called
	// concurrently.
	Step()
	// End ends the stage.
	End()
}

type noProgress struct{}

func (noProgress) Begin(string, int) {}
func (noProgress) Step()             {}
func (noProgress) End()              {}

func (d *Deps) progress() Progress {
	if d.Progress != nil {
		return d.Progress
	}
	return noProgress{}
}
