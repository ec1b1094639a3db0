//! All wgpu glue lives here: adapter discovery, the one shared device, pipeline cache,
//! buffer upload/readback and dispatch sizing. Analysis code never sees buffers or
//! bind groups; it calls the kernel wrappers in the submodules (`pairwise`, `kmeans`,
//! `displacement`), each of which has a CPU twin of the same name in `crate::compute::cpu`.

pub mod bvse;
pub mod displacement;
pub mod kmeans;
pub mod pairwise;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use crate::error::{Error, Result};

/// Workgroup size used by every 1-D kernel (must match `WG` in the shaders).
pub(crate) const WG: u32 = 64;

/// A description of one adapter, for `superion devices` and for backend choice.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AdapterSummary {
    pub name: String,
    pub backend: String,
    pub device_type: String,
    pub driver: String,
    pub max_storage_buffer_binding_size: u64,
    pub max_buffer_size: u64,
    pub max_compute_workgroups_per_dimension: u32,
    pub max_compute_invocations_per_workgroup: u32,
    pub max_compute_workgroup_storage_size: u32,
    pub shader_f16: bool,
    pub shader_f64: bool,
    pub subgroup: bool,
    pub timestamp_query: bool,
}

impl AdapterSummary {
    fn of(adapter: &wgpu::Adapter) -> Self {
        let info = adapter.get_info();
        let l = adapter.limits();
        let f = adapter.features();
        AdapterSummary {
            name: info.name.clone(),
            backend: format!("{:?}", info.backend),
            device_type: format!("{:?}", info.device_type),
            driver: format!("{} {}", info.driver, info.driver_info)
                .trim()
                .to_string(),
            max_storage_buffer_binding_size: l.max_storage_buffer_binding_size,
            max_buffer_size: l.max_buffer_size,
            max_compute_workgroups_per_dimension: l.max_compute_workgroups_per_dimension,
            max_compute_invocations_per_workgroup: l.max_compute_invocations_per_workgroup,
            max_compute_workgroup_storage_size: l.max_compute_workgroup_storage_size,
            shader_f16: f.contains(wgpu::Features::SHADER_F16),
            shader_f64: f.contains(wgpu::Features::SHADER_F64),
            subgroup: f.contains(wgpu::Features::SUBGROUP),
            timestamp_query: f.contains(wgpu::Features::TIMESTAMP_QUERY),
        }
    }

    /// A real GPU (discrete, integrated or virtualised), as opposed to a software
    /// rasteriser such as lavapipe/llvmpipe (device type `Cpu`).
    pub fn is_hardware(&self) -> bool {
        matches!(
            self.device_type.as_str(),
            "DiscreteGpu" | "IntegratedGpu" | "VirtualGpu"
        )
    }
}

fn instance() -> wgpu::Instance {
    wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env())
}

/// Every adapter wgpu can see, on every backend, in wgpu's order.
pub fn enumerate() -> Vec<AdapterSummary> {
    enumerate_on(wgpu::Backends::all())
}

/// Adapters on the given backends only. `auto` looks at the primary APIs (Vulkan,
/// Metal, DX12): starting GL/EGL just to rule it out costs tens of milliseconds.
pub(crate) fn enumerate_on(backends: wgpu::Backends) -> Vec<AdapterSummary> {
    let inst = instance();
    pollster::block_on(inst.enumerate_adapters(backends))
        .iter()
        .map(AdapterSummary::of)
        .collect()
}

/// Rank adapters for compute: hardware before software, and within each class
/// discrete > integrated > virtual; Vulkan/Metal/DX12 before GL (GL has no f16,
/// few storage buffers per stage and slow barriers).
fn rank(s: &AdapterSummary) -> (u8, u8) {
    let class = match s.device_type.as_str() {
        "DiscreteGpu" => 0,
        "IntegratedGpu" => 1,
        "VirtualGpu" => 2,
        "Cpu" => 3,
        _ => 4,
    };
    let api = if s.backend == "Gl" { 1 } else { 0 };
    (class, api)
}

/// The index (into `enumerate()`'s list) of the adapter a backend request would use.
/// `hardware_only` is `auto`'s rule; `gpu` accepts software adapters too.
pub fn pick(adapters: &[AdapterSummary], hardware_only: bool) -> Option<usize> {
    adapters
        .iter()
        .enumerate()
        .filter(|(_, a)| !hardware_only || a.is_hardware())
        .min_by_key(|(i, a)| (rank(a), *i))
        .map(|(i, _)| i)
}

/// One device, its queue, and a cache of compiled pipelines. Created once per
/// process (see [`GpuContext::shared`]) and reused by every kernel.
pub struct GpuContext {
    pub summary: AdapterSummary,
    pub limits: wgpu::Limits,
    pub features: wgpu::Features,
    device: wgpu::Device,
    queue: wgpu::Queue,
    pipelines: Mutex<HashMap<(&'static str, &'static str), Arc<wgpu::ComputePipeline>>>,
    /// Errors the device reported outside an error scope (validation, OOM, loss).
    uncaptured: Arc<Mutex<Option<String>>>,
    /// What crossed the bus and how often the host waited, since the context was made.
    counters: Counters,
    /// Buffers handed back by finished calls, for the next call of the same shapes.
    pool: Arc<Mutex<Pool>>,
}

const STORAGE: wgpu::BufferUsages = wgpu::BufferUsages::STORAGE
    .union(wgpu::BufferUsages::COPY_SRC)
    .union(wgpu::BufferUsages::COPY_DST);
const UNIFORM: wgpu::BufferUsages = wgpu::BufferUsages::UNIFORM.union(wgpu::BufferUsages::COPY_DST);
const READBACK: wgpu::BufferUsages =
    wgpu::BufferUsages::MAP_READ.union(wgpu::BufferUsages::COPY_DST);
/// Free buffers kept for reuse, at most (bytes); the oldest go first.
const POOL_BYTES: u64 = 256 << 20;

/// Buffers kept between calls, by usage and exact size (a call of the same shapes as
/// the last finds all it needs here).
#[derive(Default)]
struct Pool {
    free: Vec<(wgpu::BufferUsages, u64, wgpu::Buffer)>,
    free_bytes: u64,
    created: u64,
    reused: u64,
}

/// A buffer lent by the context's pool for one call; handed back when dropped.
pub(crate) struct Scratch {
    buffer: wgpu::Buffer,
    usage: wgpu::BufferUsages,
    size: u64,
    /// Taken from the pool (its contents are the last user's).
    reused: bool,
    pool: Arc<Mutex<Pool>>,
}

impl std::ops::Deref for Scratch {
    type Target = wgpu::Buffer;
    fn deref(&self) -> &wgpu::Buffer {
        &self.buffer
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let mut pool = self.pool.lock().unwrap_or_else(|p| p.into_inner());
        pool.free.push((self.usage, self.size, self.buffer.clone()));
        pool.free_bytes += self.size;
        while pool.free_bytes > POOL_BYTES && !pool.free.is_empty() {
            let (_, s, _) = pool.free.remove(0);
            pool.free_bytes -= s;
        }
    }
}

/// Host-device traffic counters (monotonic; take differences around a call).
#[derive(Debug, Default)]
struct Counters {
    submits: std::sync::atomic::AtomicU64,
    dispatches: std::sync::atomic::AtomicU64,
    bytes_up: std::sync::atomic::AtomicU64,
    bytes_down: std::sync::atomic::AtomicU64,
}

/// A snapshot of the traffic counters: queue submissions (each one a host wait),
/// compute dispatches, bytes uploaded (inputs and parameter blocks) and bytes read back.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Traffic {
    pub submits: u64,
    pub dispatches: u64,
    pub bytes_up: u64,
    pub bytes_down: u64,
}

impl std::ops::Sub for Traffic {
    type Output = Traffic;
    fn sub(self, o: Traffic) -> Traffic {
        Traffic {
            submits: self.submits - o.submits,
            dispatches: self.dispatches - o.dispatches,
            bytes_up: self.bytes_up - o.bytes_up,
            bytes_down: self.bytes_down - o.bytes_down,
        }
    }
}

fn bump(c: &std::sync::atomic::AtomicU64, by: u64) {
    c.fetch_add(by, std::sync::atomic::Ordering::Relaxed);
}

/// A process-wide cap on binding sizes (0: none).
static BINDING_CAP: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Pretend the adapter's storage bindings hold at most `bytes` (None: its own limit).
/// Every kernel must give the same results whatever the cap, so tests use it to
/// drive the chunked paths (tiles, problem groups, frame and atom chunks) with small
/// inputs, and people can use it to emulate a smaller GPU.
pub fn set_binding_cap(bytes: Option<u64>) {
    BINDING_CAP.store(bytes.unwrap_or(0), std::sync::atomic::Ordering::Relaxed);
}

/// How long the host waits for the device to finish a submission before it gives up
/// with an error (a hung or lost device must not hang the run): 300 s, or
/// `SUPERION_GPU_TIMEOUT_S`, or what [`with_wait_limit`] sets on this thread.
pub(crate) fn wait_limit() -> std::time::Duration {
    if let Some(d) = WAIT_LIMIT.with(|w| w.get()) {
        return d;
    }
    let secs = std::env::var("SUPERION_GPU_TIMEOUT_S")
        .ok()
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s > 0.0)
        .unwrap_or(300.0);
    std::time::Duration::from_secs_f64(secs)
}

thread_local! {
    static WAIT_LIMIT: std::cell::Cell<Option<std::time::Duration>> =
        const { std::cell::Cell::new(None) };
}

/// Run `f` with the wait limit `limit` on this thread (tests: a limit too short for
/// the work must give an error, not a hang or a panic).
pub fn with_wait_limit<T>(limit: std::time::Duration, f: impl FnOnce() -> T) -> T {
    let old = WAIT_LIMIT.with(|w| w.replace(Some(limit)));
    let out = f();
    WAIT_LIMIT.with(|w| w.set(old));
    out
}

static SHARED: OnceLock<Mutex<HashMap<bool, Arc<GpuContext>>>> = OnceLock::new();

impl GpuContext {
    /// The process-wide context: the first call creates the device, later calls reuse it.
    /// `hardware_only` selects `auto`'s rule (real GPUs only).
    pub fn shared(hardware_only: bool) -> Result<Arc<GpuContext>> {
        let map = SHARED.get_or_init(|| Mutex::new(HashMap::new()));
        let mut map = map.lock().expect("GPU context cache poisoned");
        if let Some(ctx) = map.get(&hardware_only) {
            return Ok(ctx.clone());
        }
        let ctx = Arc::new(Self::create(hardware_only)?);
        map.insert(hardware_only, ctx.clone());
        Ok(ctx)
    }

    fn create(hardware_only: bool) -> Result<GpuContext> {
        // 1. Instance and adapter: honour WGPU_BACKEND / WGPU_ADAPTER_NAME, else rank.
        let inst = instance();
        let adapters = pollster::block_on(inst.enumerate_adapters(wgpu::Backends::all()));
        let summaries: Vec<_> = adapters.iter().map(AdapterSummary::of).collect();
        let wanted_name = std::env::var("WGPU_ADAPTER_NAME")
            .ok()
            .map(|s| s.to_lowercase());
        let index = match &wanted_name {
            Some(name) => summaries
                .iter()
                .position(|s| s.name.to_lowercase().contains(name))
                .ok_or_else(|| {
                    Error::NoAdapter(format!("no adapter name contains WGPU_ADAPTER_NAME={name}"))
                })?,
            None => pick(&summaries, hardware_only).ok_or_else(|| {
                Error::NoAdapter(if summaries.is_empty() {
                    "wgpu found no adapter at all (install a Vulkan driver, e.g. \
                     `apt-get install mesa-vulkan-drivers` for the software one)"
                        .to_string()
                } else {
                    "no hardware GPU among the adapters (see `superion devices`)".to_string()
                })
            })?,
        };
        let adapter = &adapters[index];
        let summary = summaries[index].clone();

        // 2. Device: ask for the adapter's own limits (wgpu's defaults are far lower:
        //    256 invocations per workgroup, 128 MiB bindings) and for f16 when offered.
        let limits = adapter.limits();
        let features = adapter.features() & wgpu::Features::SHADER_F16;
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("superion"),
            required_features: features,
            required_limits: limits.clone(),
            experimental_features: wgpu::ExperimentalFeatures::disabled(),
            memory_hints: wgpu::MemoryHints::Performance,
            trace: wgpu::Trace::Off,
        }))
        .map_err(|e| Error::NoAdapter(format!("{}: {e}", summary.name)))?;

        // 3. Errors become values: wgpu's default handler panics.
        let uncaptured = Arc::new(Mutex::new(None::<String>));
        let sink = uncaptured.clone();
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            let mut slot = sink.lock().unwrap_or_else(|p| p.into_inner());
            slot.get_or_insert_with(|| e.to_string());
        }));
        let lost = uncaptured.clone();
        device.set_device_lost_callback(move |reason, msg| {
            let mut slot = lost.lock().unwrap_or_else(|p| p.into_inner());
            slot.get_or_insert_with(|| format!("device lost ({reason:?}): {msg}"));
        });

        Ok(GpuContext {
            summary,
            limits,
            features,
            device,
            queue,
            pipelines: Mutex::new(HashMap::new()),
            uncaptured,
            counters: Counters::default(),
            pool: Arc::new(Mutex::new(Pool::default())),
        })
    }

    /// Largest storage binding in bytes (lavapipe: 128 MiB), or the cap set with
    /// [`set_binding_cap`].
    pub(crate) fn max_binding(&self) -> u64 {
        let own = self
            .limits
            .max_storage_buffer_binding_size
            .min(self.limits.max_buffer_size);
        match BINDING_CAP.load(std::sync::atomic::Ordering::Relaxed) {
            0 => own,
            cap => own.min(cap),
        }
    }

    /// A pipeline for `entry` in shader `name` (compiled once, then cached).
    pub(crate) fn pipeline(
        &self,
        name: &'static str,
        source: &'static str,
        entry: &'static str,
    ) -> Result<Arc<wgpu::ComputePipeline>> {
        let mut cache = self.pipelines.lock().expect("pipeline cache poisoned");
        if let Some(p) = cache.get(&(name, entry)) {
            return Ok(p.clone());
        }
        let scope = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let module = self
            .device
            .create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some(name),
                source: wgpu::ShaderSource::Wgsl(source.into()),
            });
        let pipeline = self
            .device
            .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(entry),
                layout: None,
                module: &module,
                entry_point: Some(entry),
                compilation_options: Default::default(),
                cache: None,
            });
        if let Some(e) = pollster::block_on(scope.pop()) {
            return Err(Error::Gpu(format!("shader {name}::{entry}: {e}")));
        }
        let p = Arc::new(pipeline);
        cache.insert((name, entry), p.clone());
        Ok(p)
    }

    /// The traffic counters now (take differences around a call).
    pub fn traffic(&self) -> Traffic {
        use std::sync::atomic::Ordering::Relaxed;
        Traffic {
            submits: self.counters.submits.load(Relaxed),
            dispatches: self.counters.dispatches.load(Relaxed),
            bytes_up: self.counters.bytes_up.load(Relaxed),
            bytes_down: self.counters.bytes_down.load(Relaxed),
        }
    }

    /// Count a dispatch recorded outside [`GpuContext::dispatch`].
    pub(crate) fn count_dispatch(&self) {
        bump(&self.counters.dispatches, 1);
    }

    /// A storage buffer holding `data` (read by kernels, copyable for readback): a
    /// buffer of the same size from the pool, written through the queue, or a new one.
    pub(crate) fn upload<T: bytemuck::Pod>(&self, label: &str, data: &[T]) -> Scratch {
        let bytes: &[u8] = bytemuck::cast_slice(data);
        bump(&self.counters.bytes_up, bytes.len() as u64);
        // wgpu refuses zero-sized bindings and writes whole words: pad to both.
        let size = (bytes.len() as u64).max(16).next_multiple_of(4);
        let buf = self.take(label, size, STORAGE);
        if bytes.len() as u64 == size {
            self.queue.write_buffer(&buf, 0, bytes);
        } else {
            let mut padded = bytes.to_vec();
            padded.resize(size as usize, 0);
            self.queue.write_buffer(&buf, 0, &padded);
        }
        buf
    }

    /// A zero-filled storage buffer of `bytes` bytes (from the pool: cleared on the
    /// device, nothing uploaded).
    pub(crate) fn zeros(&self, label: &str, bytes: u64) -> Scratch {
        let size = bytes.max(16).next_multiple_of(4);
        let buf = self.take(label, size, STORAGE);
        if buf.reused {
            let mut enc = self.encoder();
            enc.clear_buffer(&buf, 0, None);
            self.queue.submit(Some(enc.finish()));
        }
        buf
    }

    /// A storage buffer of `bytes` bytes that a kernel writes whole before anything
    /// reads it: from the pool as it is, not cleared.
    pub(crate) fn output(&self, label: &str, bytes: u64) -> Scratch {
        self.take(label, bytes.max(16).next_multiple_of(4), STORAGE)
    }

    /// A uniform buffer holding one parameter block.
    pub(crate) fn uniform<T: bytemuck::Pod>(&self, params: &T) -> Scratch {
        let bytes = bytemuck::bytes_of(params);
        bump(&self.counters.bytes_up, bytes.len() as u64);
        let size = (bytes.len() as u64).next_multiple_of(16);
        let buf = self.take("params", size, UNIFORM);
        let mut padded = bytes.to_vec();
        padded.resize(size as usize, 0);
        self.queue.write_buffer(&buf, 0, &padded);
        buf
    }

    /// A buffer of `size` bytes and `usage` from the pool, or a new one (fresh buffers
    /// are zero-filled by wgpu; pooled ones hold what they last held).
    fn take(&self, label: &str, size: u64, usage: wgpu::BufferUsages) -> Scratch {
        let found = {
            let mut pool = self.pool.lock().unwrap_or_else(|p| p.into_inner());
            let at = pool
                .free
                .iter()
                .position(|(u, s, _)| *u == usage && *s == size);
            at.map(|i| {
                pool.reused += 1;
                pool.free_bytes -= size;
                pool.free.remove(i).2
            })
        };
        let reused = found.is_some();
        let buffer = found.unwrap_or_else(|| {
            let mut pool = self.pool.lock().unwrap_or_else(|p| p.into_inner());
            pool.created += 1;
            drop(pool);
            self.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(label),
                size,
                usage,
                mapped_at_creation: false,
            })
        });
        Scratch {
            buffer,
            usage,
            size,
            reused,
            pool: self.pool.clone(),
        }
    }

    /// Buffers created and buffers reused from the pool since the context was made.
    pub fn pool_counts(&self) -> (u64, u64) {
        let pool = self.pool.lock().unwrap_or_else(|p| p.into_inner());
        (pool.created, pool.reused)
    }

    /// A bind group for group 0 of `pipeline`, binding `buffers[i]` at binding `i`.
    pub(crate) fn bind(
        &self,
        pipeline: &wgpu::ComputePipeline,
        buffers: &[(u32, &wgpu::Buffer)],
    ) -> wgpu::BindGroup {
        let entries: Vec<_> = buffers
            .iter()
            .map(|(binding, buf)| wgpu::BindGroupEntry {
                binding: *binding,
                resource: buf.as_entire_binding(),
            })
            .collect();
        self.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: None,
            layout: &pipeline.get_bind_group_layout(0),
            entries: &entries,
        })
    }

    pub(crate) fn encoder(&self) -> wgpu::CommandEncoder {
        self.device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None })
    }

    /// Workgroup counts for `threads` invocations of a 1-D kernel of `WG` lanes,
    /// folded into 2-D when they exceed the per-dimension limit. Shaders recover the
    /// flat index as `(wid.y * nwg.x + wid.x) * WG + lid.x`.
    pub(crate) fn groups_1d(&self, threads: u64) -> Result<(u32, u32)> {
        let groups = threads.div_ceil(WG as u64).max(1);
        let max = self.limits.max_compute_workgroups_per_dimension as u64;
        let x = groups.min(max);
        let y = groups.div_ceil(x);
        if y > max {
            return Err(Error::TooLarge(format!(
                "{threads} invocations in one dispatch"
            )));
        }
        Ok((x as u32, y as u32))
    }

    /// Record one 1-D dispatch of `threads` invocations into `enc`.
    pub(crate) fn dispatch(
        &self,
        enc: &mut wgpu::CommandEncoder,
        pipeline: &wgpu::ComputePipeline,
        group: &wgpu::BindGroup,
        threads: u64,
    ) -> Result<()> {
        let (x, y) = self.groups_1d(threads)?;
        bump(&self.counters.dispatches, 1);
        let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor::default());
        pass.set_pipeline(pipeline);
        pass.set_bind_group(0, group, &[]);
        pass.dispatch_workgroups(x, y, 1);
        Ok(())
    }

    /// Submit `enc` and wait for it; device errors become `Error::Gpu`.
    pub(crate) fn submit(&self, enc: wgpu::CommandEncoder) -> Result<()> {
        bump(&self.counters.submits, 1);
        let index = self.queue.submit(Some(enc.finish()));
        self.wait(Some(index))?;
        self.check()
    }

    /// Wait for submission `index` (None: the last), at most [`wait_limit`].
    fn wait(&self, index: Option<wgpu::SubmissionIndex>) -> Result<()> {
        let limit = wait_limit();
        self.device
            .poll(wgpu::PollType::Wait {
                submission_index: index,
                timeout: Some(limit),
            })
            .map(|_| ())
            .map_err(|e| match e {
                wgpu::PollError::Timeout => Error::Gpu(format!(
                    "the GPU did not finish its work within {:.3} s (a hung or lost device, \
                     or work too large for it; SUPERION_GPU_TIMEOUT_S sets the limit, \
                     --backend cpu avoids the GPU)",
                    limit.as_secs_f64()
                )),
                other => Error::Gpu(other.to_string()),
            })
    }

    /// Return any error the device reported since the last check.
    pub(crate) fn check(&self) -> Result<()> {
        let mut slot = self.uncaptured.lock().unwrap_or_else(|p| p.into_inner());
        match slot.take() {
            Some(msg) => Err(Error::Gpu(msg)),
            None => Ok(()),
        }
    }

    /// Copy `buffer` (the first `len` elements) back to the host.
    pub(crate) fn read<T: bytemuck::Pod>(
        &self,
        buffer: &wgpu::Buffer,
        len: usize,
    ) -> Result<Vec<T>> {
        let bytes = (len * std::mem::size_of::<T>()) as u64;
        if bytes == 0 {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        self.read_parts(&[(buffer, bytes)], |_, b| {
            out = bytemuck::pod_collect_to_vec(b)
        })?;
        Ok(out)
    }
}

impl GpuContext {
    /// Copy several buffers (each its first `bytes` bytes) back to the host with one
    /// staging buffer and one submission.
    pub(crate) fn read_many(&self, parts: &[(&wgpu::Buffer, u64)]) -> Result<Vec<Vec<u8>>> {
        let mut out = vec![Vec::new(); parts.len()];
        self.read_parts(parts, |i, b| out[i] = b.to_vec())?;
        Ok(out)
    }

    /// Copy several buffers back with one staging buffer and one submission, handing
    /// each part's bytes (mapped) to `take` with its index.
    fn read_parts(
        &self,
        parts: &[(&wgpu::Buffer, u64)],
        mut take: impl FnMut(usize, &[u8]),
    ) -> Result<()> {
        let sizes: Vec<u64> = parts.iter().map(|(_, b)| b.next_multiple_of(4)).collect();
        let total: u64 = sizes.iter().sum();
        if total == 0 {
            return Ok(());
        }
        bump(&self.counters.bytes_down, total);
        let staging = self.take("readback", total, READBACK);
        let mut enc = self.encoder();
        let mut at = 0;
        for ((buf, _), &size) in parts.iter().zip(&sizes) {
            if size > 0 {
                enc.copy_buffer_to_buffer(buf, 0, &staging, at, size);
            }
            at += size;
        }
        self.submit(enc)?;
        let slice = staging.slice(..);
        let (tx, rx) = std::sync::mpsc::channel();
        slice.map_async(wgpu::MapMode::Read, move |r| {
            let _ = tx.send(r);
        });
        self.wait(None)?;
        rx.recv()
            .map_err(|e| Error::Gpu(e.to_string()))?
            .map_err(|e| Error::Gpu(format!("map for readback: {e}")))?;
        let view = slice
            .get_mapped_range()
            .map_err(|e| Error::Gpu(format!("mapped range: {e}")))?;
        let mut at = 0usize;
        for (i, ((_, bytes), &size)) in parts.iter().zip(&sizes).enumerate() {
            take(i, &view[at..at + *bytes as usize]);
            at += size as usize;
        }
        drop(view);
        staging.unmap();
        self.check()
    }
}

/// Split `total` items into consecutive ranges whose byte size (`bytes_per_item` each)
/// stays within `max_bytes`; at least one item per range.
pub(crate) fn chunks(
    total: usize,
    bytes_per_item: u64,
    max_bytes: u64,
) -> Vec<std::ops::Range<usize>> {
    let per = (max_bytes / bytes_per_item.max(1)).max(1) as usize;
    (0..total.div_ceil(per).max(1))
        .map(|c| c * per..((c + 1) * per).min(total))
        .collect()
}
