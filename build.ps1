# Weft build driver for Windows: native build with MSYS2's MinGW-w64 toolchain.
# The Windows counterpart of build.sh (which cross-builds on Linux and runs under Wine).
#
# Usage: .\build.ps1 {deps|build|test|bench|demo} [args...]
#   deps   install what MSYS2 lacks through pacman: gcc, cmake, ninja, Criterion
#   build  configure and build into .\build (runs deps first if anything is missing)
#   test   build, then run every test through ctest (extra args go to ctest)
#   bench  build, then run build\bin\bench_*.exe from build\bench (extra args go to each)
#   demo   build, then run weftd with the sample bank, a scripted terminal
#          session, 50 simulated terminals, the audit (see docs/tour.md)
#
# Environment:
#   MSYS2_ROOT        where MSYS2 is installed (default C:\msys64)
#   MSYSTEM           UCRT64 or MINGW64 (default: UCRT64, or MINGW64 if only it has gcc)
#   WEFT_BUILD_DIR    build folder (default .\build)
#   WEFT_BUILD_TYPE   CMAKE_BUILD_TYPE (default RelWithDebInfo)
#
# Works with Windows PowerShell 5.1 and PowerShell 7. No param() block on purpose: every
# argument after the verb reaches ctest / the program untouched (e.g. -R region -V).

Set-StrictMode -Version 3.0
$ErrorActionPreference = 'Stop'

$ScriptArgs = @($args)
$Verb = ''
if ($ScriptArgs.Count -gt 0) { $Verb = [string]$ScriptArgs[0] }
$Rest = @($ScriptArgs | Select-Object -Skip 1)

$Root = $PSScriptRoot
$Build = Join-Path $Root 'build'
if ($env:WEFT_BUILD_DIR) { $Build = $env:WEFT_BUILD_DIR }
$BuildType = 'RelWithDebInfo'
if ($env:WEFT_BUILD_TYPE) { $BuildType = $env:WEFT_BUILD_TYPE }

function Write-Log([string]$Message) {
  Write-Host "== $Message"
}

function Stop-WithError([string]$Message, [int]$Code = 1) {
  [Console]::Error.WriteLine("build.ps1: $Message")
  exit $Code
}

# Run a native program, its output straight to the console. Its exit code lands in
# $script:NativeExit; unless -NoStop, a failure stops the script with that code.
$script:NativeExit = 0
function Invoke-Native([string]$Exe, [string[]]$Arguments, [switch]$NoStop) {
  # A native program's stderr is output, not a PowerShell error (Windows PowerShell 5.1
  # would otherwise turn it into a terminating error under 'Stop').
  $ErrorActionPreference = 'Continue'
  & $Exe @Arguments
  $script:NativeExit = $LASTEXITCODE
  if (-not $NoStop -and $script:NativeExit -ne 0) {
    $name = Split-Path -Leaf $Exe
    Stop-WithError "$name failed with exit code $script:NativeExit" $script:NativeExit
  }
}

# ---------------------------------------------------------------------------
# MSYS2 discovery
# ---------------------------------------------------------------------------

if ([System.Environment]::OSVersion.Platform -ne [System.PlatformID]::Win32NT) {
  Stop-WithError 'build.ps1 is for Windows (MSYS2). On Linux use ./build.sh.'
}

$Msys2Root = 'C:\msys64'
if ($env:MSYS2_ROOT) { $Msys2Root = $env:MSYS2_ROOT }
$Bash = Join-Path $Msys2Root 'usr\bin\bash.exe'
if (-not (Test-Path -LiteralPath $Bash -PathType Leaf)) {
  Stop-WithError ("MSYS2 not found: no $Bash. Install MSYS2 (https://www.msys2.org/, " +
    "or 'winget install MSYS2.MSYS2') to C:\msys64, or set MSYS2_ROOT to where it is.")
}

# Pick the environment: $env:MSYSTEM if it names one we support, else UCRT64 unless only
# MINGW64 has a compiler.
$Msystem = 'UCRT64'
if ($env:MSYSTEM) {
  $Msystem = $env:MSYSTEM.ToUpperInvariant()
} elseif (-not (Test-Path -LiteralPath (Join-Path $Msys2Root 'ucrt64\bin\gcc.exe')) -and
          (Test-Path -LiteralPath (Join-Path $Msys2Root 'mingw64\bin\gcc.exe'))) {
  $Msystem = 'MINGW64'
}
switch ($Msystem) {
  'UCRT64' { $PkgPrefix = 'mingw-w64-ucrt-x86_64-'; $EnvDir = 'ucrt64' }
  'MINGW64' { $PkgPrefix = 'mingw-w64-x86_64-'; $EnvDir = 'mingw64' }
  default {
    Stop-WithError "MSYSTEM=$Msystem is not supported: set it to UCRT64 or MINGW64, or unset it."
  }
}
$EnvPrefix = Join-Path $Msys2Root $EnvDir
$EnvBin = Join-Path $EnvPrefix 'bin'
$CMake = Join-Path $EnvBin 'cmake.exe'
$CTest = Join-Path $EnvBin 'ctest.exe'

# The environment's bin first on PATH: gcc and ninja for CMake, and the DLLs the programs
# need at run time (libcriterion-3.dll). weft.dll sits next to the programs in build\bin.
$env:PATH = "$EnvBin;$env:PATH"

# ---------------------------------------------------------------------------
# Verbs
# ---------------------------------------------------------------------------

# True when everything the other verbs need is installed in the environment.
function Test-Deps {
  $needed = @(
    'bin\gcc.exe',
    'bin\cmake.exe',
    'bin\ctest.exe',
    'bin\ninja.exe',
    'include\criterion\criterion.h'
  )
  foreach ($rel in $needed) {
    if (-not (Test-Path -LiteralPath (Join-Path $EnvPrefix $rel))) { return $false }
  }
  return $true
}

function Invoke-Deps {
  $pkgs = @('gcc', 'cmake', 'ninja', 'criterion') | ForEach-Object { $PkgPrefix + $_ }
  Write-Log "installing MSYS2 $Msystem packages (pacman --needed): $($pkgs -join ' ')"
  # pacman runs in an MSYS2 login shell so its install hooks find their tools.
  $env:MSYSTEM = $Msystem
  $env:CHERE_INVOKING = '1'
  Invoke-Native $Bash @('-lc', "pacman -S --needed --noconfirm $($pkgs -join ' ')") -NoStop
  if ($script:NativeExit -ne 0) {
    Stop-WithError ("pacman failed (exit code $script:NativeExit). If its package lists are " +
      "old, update MSYS2 first: in an MSYS2 shell run 'pacman -Syu' (again if it asks), " +
      "then retry.")
  }
  if (-not (Test-Deps)) {
    Stop-WithError "pacman finished but $EnvPrefix still lacks gcc, cmake, ninja or Criterion."
  }
  Write-Log "dependencies ready in $EnvPrefix"
}

function Confirm-Deps {
  if (-not (Test-Deps)) { Invoke-Deps }
}

function Invoke-Build {
  Confirm-Deps
  # A build folder configured by build.sh (MinGW toolchain file, Wine emulator) cannot be
  # reused natively: say so instead of failing inside CMake.
  $cache = Join-Path $Build 'CMakeCache.txt'
  if ((Test-Path -LiteralPath $cache) -and
      (Select-String -LiteralPath $cache -Pattern '^CMAKE_TOOLCHAIN_FILE:' -Quiet)) {
    Stop-WithError ("$Build was configured for cross-building (build.sh): delete it, " +
      "or set WEFT_BUILD_DIR to another folder.")
  }
  Invoke-Native $CMake @('-S', $Root, '-B', $Build, '-G', 'Ninja',
    "-DCMAKE_BUILD_TYPE=$BuildType", "-DCMAKE_C_COMPILER=$($EnvBin.Replace('\', '/'))/gcc.exe")
  Invoke-Native $CMake @('--build', $Build, '--parallel')
}

function Invoke-Test {
  Invoke-Build
  Write-Log 'running tests'
  $ctestArgs = @('--test-dir', $Build, '--parallel', '2', '--output-on-failure') + $Rest
  Invoke-Native $CTest $ctestArgs -NoStop
  exit $script:NativeExit
}

function Invoke-Bench {
  Invoke-Build
  $benchDir = Join-Path $Build 'bench'
  New-Item -ItemType Directory -Force -Path $benchDir | Out-Null
  $benches = @(Get-ChildItem -Path (Join-Path $Build 'bin') -Filter 'bench_*.exe' -File |
      Sort-Object Name)
  if ($benches.Count -eq 0) { Stop-WithError "no bench_*.exe in $Build\bin" }
  $status = 0
  foreach ($b in $benches) {
    Write-Log "running $($b.Name)"
    Push-Location $benchDir
    try {
      Invoke-Native $b.FullName $Rest -NoStop
      if ($script:NativeExit -ne 0) { $status = $script:NativeExit }
    } finally {
      Pop-Location
    }
  }
  exit $status
}

# The demo of scripts/demo.sh, natively: weftd with the sample bank in
# build\demo, a scripted terminal session, 50 simulated terminals for 20 s,
# the audit, SHUTDOWN on weftd's console. (Written for MSYS2 on Windows;
# CI runs the bash version under Wine.)
function Invoke-Demo {
  Invoke-Build
  $bin = Join-Path $Build 'bin'
  $demo = Join-Path $Build 'demo'
  if (Test-Path -LiteralPath $demo) { Remove-Item -Recurse -Force -LiteralPath $demo }
  New-Item -ItemType Directory -Force -Path $demo | Out-Null
  foreach ($f in @('bank.wrd', 'bank.dll', 'bank.mix', 'demo.script')) {
    Copy-Item -LiteralPath (Join-Path $bin $f) -Destination $demo
  }
  Set-Content -LiteralPath (Join-Path $demo 'audit.script') -Value @('SIGNON bob bob123', 'AUDT')

  Write-Log 'starting weftd bank.wrd (127.0.0.1:3270)'
  $psi = New-Object System.Diagnostics.ProcessStartInfo
  $psi.FileName = Join-Path $bin 'weftd.exe'
  $psi.Arguments = 'bank.wrd'
  $psi.WorkingDirectory = $demo
  $psi.UseShellExecute = $false
  $psi.RedirectStandardInput = $true
  $weftd = [System.Diagnostics.Process]::Start($psi)
  $status = 0
  try {
    $up = $false
    for ($i = 0; $i -lt 600 -and -not $up; $i++) {
      if ($weftd.HasExited) { Stop-WithError "weftd ended at start (exit $($weftd.ExitCode))" }
      $c = New-Object System.Net.Sockets.TcpClient
      try { $c.Connect('127.0.0.1', 3270); $up = $true } catch { Start-Sleep -Milliseconds 100 }
      finally { $c.Close() }
    }
    if (-not $up) { Stop-WithError 'weftd does not listen on 127.0.0.1:3270' }
    Start-Sleep -Seconds 2 # the STARTUP seed of the bank

    Push-Location $demo
    try {
      $term = Join-Path $bin 'weftterm.exe'
      Write-Log "weftterm --script demo.script: a teller's session"
      Invoke-Native $term @('--script', 'demo.script') -NoStop
      if ($script:NativeExit -ne 0) { $status = 1 }
      Write-Log 'weftload: 50 terminals, 20 s, the mix bank.mix'
      Invoke-Native (Join-Path $bin 'weftload.exe') @('--mix', 'bank.mix', '--def', 'bank.wrd',
        '--user', 'bob', '--password', 'bob123', '--accounts', '1-1000', '--terminals', '50',
        '--duration', '20', '--json', 'load.json', '--plot', 'load.png') -NoStop
      if ($script:NativeExit -ne 0) { $status = 1 }
      Write-Log "report: $demo\load.json (plot: run gnuplot load.gp in $demo)"
      Write-Log 'the audit: AUDT as bob'
      Invoke-Native $term @('--script', 'audit.script') -NoStop
      if ($script:NativeExit -ne 0) { $status = 1 }
    } finally {
      Pop-Location
    }
  } finally {
    Write-Log 'SHUTDOWN on the console'
    if (-not $weftd.HasExited) { $weftd.StandardInput.WriteLine('SHUTDOWN') }
    if (-not $weftd.WaitForExit(60000)) { $weftd.Kill(); $status = 1 }
    elseif ($weftd.ExitCode -ne 0) { $status = 1 }
  }
  exit $status
}

switch ($Verb) {
  'deps' { Invoke-Deps }
  'build' { Invoke-Build }
  'test' { Invoke-Test }
  'bench' { Invoke-Bench }
  'demo' { Invoke-Demo }
  default {
    [Console]::Error.WriteLine('usage: .\build.ps1 {deps|build|test|bench|demo} [args...]')
    exit 2
  }
}
exit 0
