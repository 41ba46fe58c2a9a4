package main

import (
	"context"
	"errors"
	"io"
)

func runValidate(context.Context, []string, io.Writer, io.Writer) error { return errors.New("not yet") }
func runPipeline(context.Context, []string, io.Writer, io.Writer) error { return errors.New("not yet") }
func runKeys(context.Context, []string, io.Writer, io.Writer) error     { return errors.New("not yet") }
func runApply(context.Context, []string, io.Writer, io.Writer) error    { return errors.New("not yet") }
func runUpload(context.Context, []string, io.Writer, io.Writer) error   { return errors.New("not yet") }
