package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	// Embed the time zone database: schedules and the config's timezone
	// must work on minimal images that ship no /usr/share/zoneinfo.
	_ "time/tzdata"
)

// Set at build time with -ldflags "-X main.version=… -X main.commit=…".
var (
	version = "dev"
	commit  = "none"
)

func main() {
	if err := run(context.Background(), os.Args, os.Getenv, os.Stdout, os.Stderr); err != nil {
		var logged *fatalLogged
		if !errors.As(err, &logged) {
			fmt.Fprintln(os.Stderr, "deploybot:", err)
		}
		os.Exit(1)
	}
}
