// SPDX-License-Identifier: LGPL-2.1-or-later
// Parses a Varlink interface description on stdin with Debian's Go Varlink library
// (golang-github-varlink-go-dev), as a Go client or its interface generator would: it rejects
// a name defined twice across types, methods and errors. Prints what it found; exit 1 when the
// library refuses the description.
package main

import (
	"fmt"
	"io"
	"os"

	"github.com/varlink/go/varlink/idl"
)

func main() {
	b, err := io.ReadAll(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	i, err := idl.New(string(b))
	if err != nil {
		fmt.Println("refused:", err)
		os.Exit(1)
	}
	fmt.Printf("%s: %d methods, %d errors, %d definitions\n", i.Name, len(i.Methods),
		len(i.Errors), len(i.Members))
}
