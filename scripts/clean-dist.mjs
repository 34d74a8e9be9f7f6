#!/usr/bin/env node
// Empties dist/ before a build, so files of since-removed sources never reach a build or the npm package.
import { rmSync } from 'node:fs';

rmSync(new URL('../dist', import.meta.url), { recursive: true, force: true });
