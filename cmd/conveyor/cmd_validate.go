package main

// `conveyor validate FILE...`: check pipeline declarations and conveyor.yaml files offline, against
// the action providers of this build, and print every problem at once.

import (
	"context"
	"fmt"
	"io"

	"github.com/conveyorci/conveyor/pipeline"
)

// validateReport is the result for one file (the --output json form).
type validateReport struct {
	File      string    `json:"file"`
	OK        bool      `json:"ok"`
	Pipelines []string  `json:"pipelines,omitempty"`
	Errors    []problem `json:"errors,omitempty"`
}

func runValidate(_ context.Context, args []string, out, errOut io.Writer) error {
	c := newCmd("validate FILE... (offline: no server is needed)")
	files, err := c.parse(args, 1, -1)
	if err != nil {
		return err
	}
	providers := registerProviders(providerDeps{})
	reports := make([]validateReport, 0, len(files))
	bad := 0
	for _, f := range files {
		r := validateFile(f, providers)
		if !r.OK {
			bad++
		}
		reports = append(reports, r)
		if c.cfg.json() {
			continue
		}
		if r.OK {
			fmt.Fprintf(out, "%s: ok\n", r.File)
			continue
		}
		for _, p := range r.Errors {
			fmt.Fprintln(out, p)
		}
	}
	if c.cfg.json() {
		if err := printJSON(out, reports); err != nil {
			return err
		}
	}
	if bad > 0 {
		if !c.cfg.json() && len(files) > 1 {
			fmt.Fprintf(errOut, "%d of %d files have errors\n", bad, len(files))
		}
		return &exitError{code: 1}
	}
	return nil
}

func validateFile(file string, providers pipeline.Providers) validateReport {
	name := file
	if file == "-" {
		name = "<stdin>"
	}
	r := validateReport{File: name}
	data, err := readInput(file)
	if err != nil {
		r.Errors = []problem{{File: name, Message: err.Error()}}
		return r
	}
	if isConfigFile(file, data) {
		resources, fileProblems := loadConfig(name, data, providers)
		r.Errors = fileProblems
		for _, res := range resources {
			r.Errors = append(r.Errors, res.problems...)
			if res.kind == "pipeline" && len(res.problems) == 0 {
				r.Pipelines = append(r.Pipelines, res.name)
			}
		}
	} else if d, _, err := pipeline.ParseAndValidate(name, data, providers); err != nil {
		r.Errors = problemsOf(err, name, "")
	} else {
		r.Pipelines = []string{d.Name}
	}
	r.OK = len(r.Errors) == 0
	return r
}
