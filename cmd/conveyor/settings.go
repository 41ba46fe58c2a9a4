package main

import (
	"flag"
	"fmt"
	"os"
	"strconv"
)

// Each setting is defined once: its flag, its CONVEYOR_* environment variable and its default.
// The environment overrides the default; the flag overrides both.

func stringSetting(fs *flag.FlagSet, name, env, def, help string) *string {
	if v, ok := os.LookupEnv(env); ok && v != "" {
		def = v
	}
	return fs.String(name, def, fmt.Sprintf("%s (env %s)", help, env))
}

func boolSetting(fs *flag.FlagSet, name, env string, def bool, help string) *bool {
	if v, ok := os.LookupEnv(env); ok && v != "" {
		if b, err := strconv.ParseBool(v); err == nil {
			def = b
		}
	}
	return fs.Bool(name, def, fmt.Sprintf("%s (env %s)", help, env))
}

// parseFlags parses args; -h prints usage and ends the command without an error.
func parseFlags(fs *flag.FlagSet, args []string) error {
	fs.SetOutput(os.Stderr)
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return &exitError{code: 0}
		}
		return &exitError{code: 2, err: err}
	}
	return nil
}
