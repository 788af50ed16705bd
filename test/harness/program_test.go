package harness

import (
	"errors"
	"flag"
	"testing"
	"time"
)

func TestPreset(t *testing.T) {
	var unset, set time.Duration = 0, time.Second
	Preset(&unset, false, time.Minute, 5*time.Second)
	Preset(&set, true, time.Minute, 5*time.Second)
	if unset != 5*time.Second || set != time.Second {
		t.Errorf("Preset: unset %s (want the smoke value 5s), set %s (want kept 1s)", unset, set)
	}
	if err := UsageError(flag.ErrHelp); !errors.Is(err, flag.ErrHelp) || UsageError(nil) != nil {
		t.Errorf("UsageError(%v) = %v: want it to wrap, and nil for nil", flag.ErrHelp, err)
	}
}
