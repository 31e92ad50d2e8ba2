// Stack buffers for keys and values need no zeroing: every byte read is written first.
[module: System.Runtime.CompilerServices.SkipLocalsInit]
