package main

import "errors"

type authRotateKeyCmd struct{}

func (authRotateKeyCmd) Run(e *env) error {
	return usageError{errors.New("auth rotate-key is not available yet")}
}
