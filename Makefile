# Millwright: a thin front over CMake/CTest.  `make run` and `make test` install
# what is missing (Debian packages, as root) before they build.
BUILD      ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
JOBS       ?= $(shell nproc)
PORT       ?= 5000
DATA_DIR   ?= ./mw-data
FUZZ_SECONDS ?= 30

DEB_PACKAGES = build-essential cmake pkg-config clang libclang-rt-14-dev \
  libmicrohttpd-dev libjansson-dev libyaml-dev libsqlite3-dev libssl-dev libcurl4-openssl-dev \
  libcmocka-dev python3 python3-pytest python3-requests python3-numpy python3-xgboost libxgboost-dev \
  python3-sklearn prometheus wrk

.PHONY: all deps build run test unit api asan fuzz bench clean format lint

all: build

deps:
	@./scripts/deps.sh $(DEB_PACKAGES)

$(BUILD)/Makefile: CMakeLists.txt
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo

build: $(BUILD)/Makefile
	cmake --build $(BUILD) -j$(JOBS)

run: deps build
	./$(BUILD)/mw server --host 127.0.0.1 --port $(PORT) --data-dir $(DATA_DIR)

# Everything: unit + API tests, the same under ASan/UBSan, and a short fuzz run.
test: deps build
	cd $(BUILD) && ctest --output-on-failure
	$(MAKE) asan
	$(MAKE) fuzz

unit: build
	cd $(BUILD) && ctest --output-on-failure -R '^unit\.'

api: build
	cd $(BUILD) && ctest --output-on-failure -R '^api$$'

asan:
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_COMPILER=clang -DMW_SANITIZE=ON
	cmake --build $(ASAN_BUILD) -j$(JOBS)
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest --output-on-failure

fuzz:
	cmake -S . -B $(FUZZ_BUILD) -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_COMPILER=clang -DMW_SANITIZE=ON -DMW_FUZZ=ON
	cmake --build $(FUZZ_BUILD) -j$(JOBS)
	./scripts/fuzz.sh $(FUZZ_BUILD) $(FUZZ_SECONDS)

bench: deps
	cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release
	cmake --build build-release -j$(JOBS)
	./bench/run.sh build-release
	./bench/artifacts.sh build-release
	./bench/registry.sh build-release
	./bench/xgb.sh build-release
	./bench/serving.sh build-release

format:
	clang-format -i src/*.c src/*/*.c src/*/*.h tests/unit/*.c tests/fuzz/*.c bench/*.c

lint:
	cppcheck --quiet --enable=warning,performance,portability --std=c11 -Isrc src

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD) build-release
