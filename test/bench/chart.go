//go:build bench

package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/corral-run/corral/test/harness"
)

// runtimeEnv are the variables of the chart's controller container that change how the Go
// runtime behaves, so corral runs with them out of cluster as it would in the chart.
var runtimeEnv = []string{"GOMEMLIMIT", "GOGC"}

// chartRuntimeEnv renders charts/corral with its default values and returns the runtimeEnv
// variables its controller container sets, as KEY=VALUE; a value from a resourceFieldRef
// (e.g. limits.memory) is computed as the kubelet would. Without the helm binary it returns
// none and says so.
func chartRuntimeEnv(ctx context.Context, helm string) ([]string, error) {
	if _, err := os.Stat(helm); err != nil {
		logf("no helm at %s (make helm builds it): corral runs without the chart's GOMEMLIMIT", helm)
		return nil, nil
	}
	out, err := harness.Run(ctx, harness.RepoRoot(), helm, "template", "corral", filepath.Join("charts", "corral"),
		"--namespace", operatorNamespace, "--kube-version", harness.K8sVersion)
	if err != nil {
		return nil, fmt.Errorf("rendering the chart: %w", err)
	}
	c, err := controllerContainer(out)
	if err != nil {
		return nil, err
	}
	var env []string
	for _, v := range c.Env {
		if !slices.Contains(runtimeEnv, v.Name) {
			continue
		}
		value, err := envValue(c, v)
		if err != nil {
			return nil, fmt.Errorf("the chart's %s: %w", v.Name, err)
		}
		env = append(env, v.Name+"="+value)
	}
	return env, nil
}

// controllerContainer finds the container "controller" of the rendered Deployments.
func controllerContainer(manifests string) (corev1.Container, error) {
	for _, doc := range strings.Split("\n"+manifests, "\n---") {
		var d appsv1.Deployment
		if yaml.Unmarshal([]byte(doc), &d) != nil || d.Kind != "Deployment" {
			continue
		}
		for _, c := range d.Spec.Template.Spec.Containers {
			if c.Name == "controller" {
				return c, nil
			}
		}
	}
	return corev1.Container{}, errors.New("the rendered chart has no Deployment with a container named controller")
}

// envValue is v's value in container c: its literal value, or its resourceFieldRef
// resolved against c's resources (ceil(quantity / divisor), as the kubelet does).
func envValue(c corev1.Container, v corev1.EnvVar) (string, error) {
	if v.ValueFrom == nil {
		return v.Value, nil
	}
	ref := v.ValueFrom.ResourceFieldRef
	if ref == nil {
		return "", errors.New("set from something else than a value or a resourceFieldRef")
	}
	kind, name, _ := strings.Cut(ref.Resource, ".")
	list := c.Resources.Limits
	if kind == "requests" {
		list = c.Resources.Requests
	}
	q, ok := list[corev1.ResourceName(name)]
	if !ok {
		return "", fmt.Errorf("the container has no %s", ref.Resource)
	}
	divisor := int64(1)
	if !ref.Divisor.IsZero() {
		divisor = ref.Divisor.Value()
	}
	return strconv.FormatInt((q.Value()+divisor-1)/divisor, 10), nil
}

// mergeEnv is base with the KEY=VALUE entries of over replacing those of the same key.
func mergeEnv(base, over []string) []string {
	out := map[string]string{}
	var order []string
	for _, kv := range append(append([]string(nil), base...), over...) {
		k, v, _ := strings.Cut(kv, "=")
		if _, seen := out[k]; !seen {
			order = append(order, k)
		}
		out[k] = v
	}
	env := make([]string, 0, len(order))
	for _, k := range order {
		env = append(env, k+"="+out[k])
	}
	return env
}
