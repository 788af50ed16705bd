// Command fake-github runs the fake GitHub of internal/github/githubtest as a process, for the
// local demo and the end-to-end suite, and drives it:
//
//	fake-github serve --dir .cache/fake-github --kubeconfig $KUBECONFIG --webhook-url http://127.0.0.1:8082/webhook
//	fake-github serve --apps 4 ...                                # 4 Apps on the org: Secrets github-app, github-app-2, ...
//	fake-github queue -count 5 -labels self-hosted,linux,demo     # jobs GitHub hands to idle runners
//	fake-github jobs | runners | registrations | deliveries | calls | stats | info
//	fake-github fault -probability 0.3 -statuses 500,503,429   # random errors; clear-faults ends them
//	fake-github release                                           # let held jobs finish
//	fake-github runner NAME online|offline|start|finish|remove   # one step of a runner's life
//	fake-github runner NAME exit CODE                             # its pod terminates (kwok)
//	fake-github webhook -action queued -job 7 -labels self-hosted,linux
//
// The client commands find the control API through -control, $FAKE_GITHUB_CONTROL or the
// info.json in -dir.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/corral-run/corral/cmd/fake-github/app"
	"github.com/corral-run/corral/internal/github/githubtest"
)

const usage = `usage: fake-github serve [flags]
       fake-github [-control URL | -dir DIR] COMMAND [args]

commands:
  serve                       run the fake GitHub (see 'fake-github serve -h')
  info                        where it listens, the App and the manifests (JSON)
  queue -count N -labels L    queue workflow jobs (-hold keeps them running until 'release',
                              -duration how long each runs once taken)
  release [-duration D]       let held jobs finish
  jobs                        list jobs
  runners                     list runner registrations
  runner NAME ACTION [CODE]   ACTION: online, offline, start, finish, remove, or exit CODE
  webhook -action A -job ID -labels L [-runner R]
                              send one signed workflow_job delivery to Corral
  registrations               every registration ever made, with its runner pod's times (JSON)
  deliveries                  the App's webhook delivery log
  calls                       GitHub API calls by endpoint
  stats                       jobs, registrations, requests, fault answers, deliveries (JSON)
  fault [-endpoint E] [-status S | -statuses S,S] [-probability P] [-latency D] [-times N]
                              answer matching API requests with an error or slowly
  clear-faults                remove every fault
`

func main() {
	if len(os.Args) > 1 && os.Args[1] == "serve" {
		os.Exit(serve(os.Args[2:]))
	}
	os.Exit(client(os.Args[1:]))
}

func serve(args []string) int {
	fs := flag.NewFlagSet("serve", flag.ExitOnError)
	var cfg app.Config
	cfg.BindFlags(fs)
	_ = fs.Parse(args)
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := app.Run(ctx, cfg, log); err != nil {
		log.Error("fake GitHub failed", "error", err.Error())
		return 1
	}
	return 0
}

func client(args []string) int {
	fs := flag.NewFlagSet("fake-github", flag.ExitOnError)
	fs.Usage = func() { fmt.Fprint(os.Stderr, usage) }
	control := fs.String("control", os.Getenv("FAKE_GITHUB_CONTROL"), "Control API URL (default: $FAKE_GITHUB_CONTROL, else from -dir).")
	dir := fs.String("dir", ".cache/fake-github", "Directory of a running fake GitHub (its info.json).")
	_ = fs.Parse(args)
	if fs.NArg() == 0 {
		fs.Usage()
		return 2
	}
	if *control == "" {
		info, err := app.ReadInfo(*dir)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		*control = info.ControlURL
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := run(ctx, app.NewClient(*control), fs.Arg(0), fs.Args()[1:]); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// run executes one client command.
func run(ctx context.Context, c *app.Client, cmd string, args []string) error {
	switch cmd {
	case "info":
		return printJSON(c.Info(ctx))
	case "calls":
		return printCalls(c.Calls(ctx))
	case "deliveries":
		return printJSON(c.Deliveries(ctx))
	case "registrations":
		return printJSON(c.Registrations(ctx))
	case "stats":
		return printJSON(c.Stats(ctx))
	case "fault":
		return fault(ctx, c, args)
	case "clear-faults":
		return c.ClearFaults(ctx)
	case "runners":
		return printRunners(c.Runners(ctx))
	case "jobs":
		return printJobs(c.Jobs(ctx))
	case "queue":
		return queue(ctx, c, args)
	case "release":
		fs := flag.NewFlagSet("release", flag.ExitOnError)
		d := fs.Duration("duration", 0, "How long released jobs still run.")
		_ = fs.Parse(args)
		n, err := c.Release(ctx, *d)
		if err == nil {
			fmt.Printf("released %d jobs\n", n)
		}
		return err
	case "runner":
		return runnerCmd(ctx, c, args)
	case "webhook":
		return webhook(ctx, c, args)
	}
	return fmt.Errorf("unknown command %q (fake-github -h lists them)", cmd)
}

func queue(ctx context.Context, c *app.Client, args []string) error {
	fs := flag.NewFlagSet("queue", flag.ExitOnError)
	count := fs.Int("count", 1, "Number of jobs.")
	labels := fs.String("labels", "self-hosted,linux", "Comma-separated runs-on labels.")
	hold := fs.Bool("hold", false, "Keep the jobs running once taken until 'release'.")
	dur := fs.String("duration", "", "How long a job runs once taken (default: the server's --job-duration).")
	_ = fs.Parse(args)
	resp, err := c.Queue(ctx, app.QueueRequest{Count: *count, Labels: splitList(*labels), Hold: *hold, Duration: *dur})
	if err != nil {
		return err
	}
	fmt.Printf("queued %d jobs (%d deliveries acknowledged by Corral, %d failed)\n", len(resp.Jobs), resp.Delivered, resp.Failed)
	return nil
}

func fault(ctx context.Context, c *app.Client, args []string) error {
	fs := flag.NewFlagSet("fault", flag.ExitOnError)
	var req app.FaultRequest
	fs.StringVar(&req.Endpoint, "endpoint", "", "Endpoint, e.g. \"GET /orgs/{org}/actions/runners\"; all when empty.")
	fs.IntVar(&req.Status, "status", 0, "Status answered instead of the real response.")
	statuses := fs.String("statuses", "", "Comma-separated statuses, one picked at random per hit (replaces -status).")
	fs.Float64Var(&req.Probability, "probability", 0, "Chance a matching request is hit (0: every one).")
	fs.StringVar(&req.Latency, "latency", "", "Delay before answering (Go duration).")
	fs.StringVar(&req.RetryAfter, "retry-after", "", "Retry-After of 403 and 429 answers (Go duration).")
	fs.IntVar(&req.Times, "times", 0, "Requests hit before the fault goes away (0: until clear-faults).")
	_ = fs.Parse(args)
	for _, item := range splitList(*statuses) {
		n, err := strconv.Atoi(item)
		if err != nil {
			return fmt.Errorf("status %q is not a number", item)
		}
		req.Statuses = append(req.Statuses, n)
	}
	return c.InjectFault(ctx, req)
}

func runnerCmd(ctx context.Context, c *app.Client, args []string) error {
	if len(args) < 2 {
		return fmt.Errorf("usage: fake-github runner NAME online|offline|start|finish|remove|exit CODE")
	}
	if args[1] == "exit" {
		if len(args) < 3 {
			return fmt.Errorf("usage: fake-github runner NAME exit CODE")
		}
		code, err := strconv.Atoi(args[2])
		if err != nil {
			return fmt.Errorf("exit code %q is not a number", args[2])
		}
		return c.Exit(ctx, args[0], code)
	}
	return c.RunnerAction(ctx, args[0], args[1])
}

func webhook(ctx context.Context, c *app.Client, args []string) error {
	fs := flag.NewFlagSet("webhook", flag.ExitOnError)
	action := fs.String("action", "queued", "queued, waiting, in_progress or completed.")
	job := fs.Int64("job", 1, "Job ID.")
	labels := fs.String("labels", "self-hosted,linux", "Comma-separated runs-on labels.")
	runner := fs.String("runner", "", "Runner that took the job (in_progress, completed).")
	_ = fs.Parse(args)
	d, err := c.SendWebhook(ctx, app.WebhookRequest{Action: *action, JobID: *job, Labels: splitList(*labels), Runner: *runner})
	if err != nil {
		return err
	}
	fmt.Printf("delivery %s: Corral answered %d\n", d.GUID, d.StatusCode)
	return nil
}

func printJSON[T any](v T, err error) error {
	if err != nil {
		return err
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func printRunners(rs []githubtest.Runner, err error) error {
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tNAME\tONLINE\tBUSY\tLABELS")
	for _, r := range rs {
		fmt.Fprintf(w, "%d\t%s\t%t\t%t\t%s\n", r.ID, r.Name, r.Online, r.Busy, strings.Join(r.Labels, ","))
	}
	return w.Flush()
}

func printJobs(js []app.Job, err error) error {
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tSTATE\tCONCLUSION\tRUNNER\tLABELS")
	for _, j := range js {
		fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\n", j.ID, j.State, j.Conclusion, j.Runner, strings.Join(j.Labels, ","))
	}
	return w.Flush()
}

func printCalls(calls map[string]int, err error) error {
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "CALLS\tENDPOINT")
	names := make([]string, 0, len(calls))
	for name := range calls {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if calls[name] > 0 && name != "total" {
			fmt.Fprintf(w, "%d\t%s\n", calls[name], name)
		}
	}
	fmt.Fprintf(w, "%d\t%s\n", calls["total"], "total")
	return w.Flush()
}

func splitList(s string) []string {
	var out []string
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}
