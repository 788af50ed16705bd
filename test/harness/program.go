package harness

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

// Main runs a suite's program (the bench, the chaos run): run gets a context that Ctrl-C or
// SIGTERM cancels, so it can stop what it started, and the command line's arguments. A flag
// error exits 2; another error is printed with the program's name and exits 1; ErrFailed
// exits 1 quietly (the program reported why).
func Main(name string, run func(ctx context.Context, args []string) error) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	var usage usageError
	switch {
	case err == nil:
		return
	case errors.Is(err, flag.ErrHelp):
		os.Exit(0)
	case errors.As(err, &usage):
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	case errors.Is(err, ErrFailed):
		os.Exit(1)
	default:
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		os.Exit(1)
	}
}

// ErrFailed says that a suite ran and found failures it already reported.
var ErrFailed = errors.New("the suite found failures")

// usageError is a bad command line.
type usageError struct{ error }

func (u usageError) Unwrap() error { return u.error }

// UsageError marks err as a bad command line: Main exits 2.
func UsageError(err error) error {
	if err == nil {
		return nil
	}
	return usageError{err}
}

// Preset sets *v, when the user left it zero, to the value of the run's size: full or
// smoke.
func Preset[T comparable](v *T, full bool, fullValue, smokeValue T) {
	var zero T
	if *v != zero {
		return
	}
	if full {
		*v = fullValue
	} else {
		*v = smokeValue
	}
}
