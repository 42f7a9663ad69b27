#!/usr/bin/env node
// Entry point for the compiled CLI (npm run build → dist/).
import "../dist/cli.js";
