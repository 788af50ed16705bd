package install

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// conditionReasons returns every Reason* constant of api/v1alpha1/conditions.go by value, so
// the docs and the Argo CD check cannot miss a reason added later.
func conditionReasons(t *testing.T) []string {
	t.Helper()
	return stringConsts(t, "Reason")
}

// conditionTypes returns every Condition* constant of api/v1alpha1/conditions.go by value.
func conditionTypes(t *testing.T) []string {
	t.Helper()
	return stringConsts(t, "Condition")
}

// stringConsts returns the values of the string constants in conditions.go whose names
// start with prefix.
func stringConsts(t *testing.T, prefix string) []string {
	t.Helper()
	path := filepath.Join(repoRoot(t), "api", "v1alpha1", "conditions.go")
	f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, decl := range f.Decls {
		gd, ok := decl.(*ast.GenDecl)
		if !ok || gd.Tok != token.CONST {
			continue
		}
		for _, spec := range gd.Specs {
			vs := spec.(*ast.ValueSpec)
			for i, name := range vs.Names {
				if !strings.HasPrefix(name.Name, prefix) || i >= len(vs.Values) {
					continue
				}
				lit, ok := vs.Values[i].(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING {
					continue
				}
				v, err := strconv.Unquote(lit.Value)
				if err != nil {
					t.Fatal(err)
				}
				out = append(out, v)
			}
		}
	}
	if len(out) == 0 {
		t.Fatalf("no %s* constants in %s", prefix, path)
	}
	return out
}
