"""The one place gapfill reads its configuration.

Sources, strongest first: keyword arguments, environment variables (`GAPFILL_`, nested with `__`,
e.g. `GAPFILL_DETECT__BLACK_PIXEL_LUMA=0.1`), a `.env` file in the working directory, a TOML file
(`gapfill.toml` in the working directory, or the file named by `GAPFILL_CONFIG_FILE`), defaults.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from gapfill.times import MAX_LENGTH_SECONDS, MAX_RETENTION_DAYS


class DetectionSettings(BaseModel):
    """Detector thresholds. Defaults follow established tools so a reviewer can compare figures:
    FFmpeg freezedetect (noise -60 dB, 2 s), FFmpeg blackdetect (pixel 0.10, picture 0.98),
    QCTools' YDIF / SATMAX signals. A camera can override any of them (cameras.detector_overrides).
    """

    # nan passes no comparison and inf every one: either would make a detector silently
    # never (or always) fire, so only finite numbers are read. An unknown threshold is a typo
    # that would leave the default in force, as for a camera's overrides (detect/scan.py).
    model_config = ConfigDict(allow_inf_nan=False, extra="forbid")

    gap_factor: float = Field(
        1.5, description="A PTS step above this many typical frame durations is a gap."
    )
    freeze_noise_db: float = Field(
        -60.0, description="freezedetect n: mean abs frame difference below this is 'no change'."
    )
    freeze_min_seconds: float = Field(
        2.0, le=MAX_LENGTH_SECONDS, description="freezedetect d: shortest frozen run."
    )
    freeze_noise_floor_factor: float = Field(
        0.25,
        description="A frame counts as repeated when its difference is below this fraction of "
        "the camera's own sensor noise floor, so a static scene with live noise is not frozen.",
    )
    black_pixel_luma: float = Field(0.10, description="blackdetect pix_th (fraction of range).")
    black_picture_ratio: float = Field(0.98, description="blackdetect pic_th.")
    black_min_seconds: float = Field(
        0.0, le=MAX_LENGTH_SECONDS, description="Shortest black run reported."
    )
    solid_max_luma_std: float = Field(
        4.0, description="A picture whose luma std dev (0-255) is below this is a solid colour."
    )
    green_min_saturation: float = Field(
        60.0, description="SATMAX-like: a solid picture this saturated and green is 'green'."
    )
    blocky_score: float = Field(
        2.5,
        description="Ratio of 8x8 block-edge gradient to interior gradient above which a "
        "picture is blocky.",
    )
    analysis_short_side: int = Field(
        144, description="Decoded frames are analysed at this short side (cheaper, same verdict)."
    )
    # A decoder that neither finishes nor crashes (a deadlock inside FFmpeg on hostile bytes)
    # would hold its scan for ever. 900 s is six times what a 10-minute 1080p segment should
    # take: benchmarks/results/scan.txt decodes 10 s of 640x360 in 0.27 s a process, and 1080p
    # has 9 times the pixels (about 150 s).
    decode_timeout_seconds: float = Field(
        900.0,
        gt=0,
        description="A scan's decoder process still on one file after this long is stopped and "
        "the file reported unreadable (the scan goes on).",
    )


class Settings(BaseSettings):
    """Effective configuration of one gapfill installation."""

    model_config = SettingsConfigDict(
        env_prefix="GAPFILL_",
        env_nested_delimiter="__",
        env_file=".env",
        extra="ignore",
        # nan passes every unbounded float and inf every lower bound, then turns into an
        # OverflowError the first time it becomes a timedelta or an int: refused when read.
        allow_inf_nan=False,
    )

    data_dir: Path = Field(
        Path("gapfill-data"), description="Catalog (SQLite), keys and work files live here."
    )
    database_url: str | None = Field(
        None,
        description="SQLAlchemy URL. Default: SQLite file <data_dir>/catalog.sqlite3. "
        "Production: postgresql+psycopg://user:pass@host/db",
    )
    recordings_dirs: list[Path] = Field(
        default_factory=list, description="Roots the daemon watches for new segments."
    )
    recordings_layout: Literal["frigate", "flat", "frigate-db"] = Field(
        "frigate",
        description="frigate: Frigate's folders; flat: <camera>/<file>; frigate-db: Frigate's "
        "folders as listed by its database (frigate_db).",
    )
    frigate_db: Path | None = Field(
        None,
        description="Frigate's SQLite database (frigate.db), read read-only; with "
        "recordings_layout frigate-db, its `recordings` rows are the source.",
    )
    output_dir: Path | None = Field(
        None, description="Where synthetic clips are written. Default: <data_dir>/synthetic."
    )
    min_free_disk_mb: int = Field(
        1024,
        ge=0,
        le=2**40,
        description="daemon, worker and repair refuse to start with less free disk than this "
        "under output_dir (gapfill doctor shows it).",
    )
    model_path: Path | None = Field(
        None, description="MALT checkpoint directory. Default: the one shipped in the package."
    )
    device: Literal["auto", "cpu", "cuda"] = "auto"
    backend: Literal["auto", "torch", "onnx", "tensorrt"] = "auto"
    workers: int = Field(1, ge=1, le=64, description="Repair worker processes.")
    scan_interval_seconds: int = Field(60, ge=1, le=MAX_LENGTH_SECONDS)
    watch_margin_seconds: int = Field(
        300,
        ge=0,
        le=24 * 3600,
        description="The watch lists the current and the previous hour's folders each tick, "
        "widened by this for clock skew and late writes (and re-reads Frigate's rows this far "
        "back).",
    )
    watch_reconcile_hours: float = Field(
        24.0,
        gt=0,
        le=MAX_LENGTH_SECONDS / 3600,
        description="Older hour folders are listed again this often, for late or restored files.",
    )
    watch_reconcile_seconds: float = Field(
        0.25,
        gt=0,
        le=3600,
        description="Time one watch tick may spend on that reconcile; the rest waits for the "
        "next tick.",
    )
    watch_events: bool = Field(
        True,
        description="Listen for filesystem events (inotify and the like) so a tick lists only "
        "the folders that changed; without them (or on NFS) every live folder is listed.",
    )
    repair_schedule: str = Field("0 1 * * *", description="Cron: nightly repair window start.")
    repair_window_hours: float = Field(
        5.0, gt=0, le=MAX_LENGTH_SECONDS / 3600, description="Length of the repair window."
    )
    repair_min_activity: float = Field(
        0.0,
        ge=0.0,
        le=1.0,
        description="The repair queue leaves alone a defect whose activity (0 still .. 1 busy, "
        "from Frigate's motion and object counts around it) is below this: it is recorded as "
        "ignored with the reason. An unknown activity is never skipped. 0: off.",
    )
    verify_schedule: str = Field("30 0 * * *", description="Cron: provenance verification.")
    retention_days: int = Field(
        0, ge=0, le=MAX_RETENTION_DAYS, description="Delete outputs older than this; 0 keeps."
    )
    shutdown_grace_seconds: float = Field(
        30.0,
        ge=0,
        le=MAX_LENGTH_SECONDS,
        description="On SIGTERM a worker finishes its job within this, or releases it.",
    )
    metrics_port: int = Field(
        9108, ge=0, le=65535, description="Daemon /healthz and /metrics on metrics_host; 0: off."
    )
    metrics_host: str = Field(
        "127.0.0.1",
        description="Address /healthz and /metrics listen on. 0.0.0.0 in a container or pod, so "
        "Prometheus and probes reach them; they need no token and show no footage.",
    )
    max_span_seconds: float = Field(
        600.0, gt=0, le=MAX_LENGTH_SECONDS, description="Longer defects are unrepairable."
    )
    context_seconds: float = Field(
        8.0, gt=0, le=MAX_LENGTH_SECONDS, description="Real footage used on each side."
    )
    keys_dir: Path | None = Field(None, description="Site signing keys. Default: <data_dir>/keys.")
    signing_cert: Path | None = None
    signing_key: Path | None = None
    ca_cert: Path | None = None
    secret_key: SecretStr = Field(
        SecretStr(""), description="Signs browser sessions; generated into data_dir if empty."
    )
    mqtt_url: str | None = Field(
        None,
        description="The plant's MQTT broker, mqtt://[user:pass@]host[:port] (mqtts:// for TLS): "
        "the daemon publishes defect, repair and review events (docs/mqtt.md). Unset: none.",
    )
    mqtt_prefix: str = Field("gapfill", min_length=1, description="First level of every topic.")
    mqtt_queue_size: int = Field(
        1000, ge=1, le=1_000_000, description="Events kept while the broker is away; then dropped."
    )
    api_host: str = "127.0.0.1"
    api_port: int = 8080
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "WARNING"
    log_json: bool = True
    detect: DetectionSettings = Field(default_factory=DetectionSettings)

    @field_validator("data_dir", "output_dir", "keys_dir", "model_path", "frigate_db", mode="after")
    @classmethod
    def _absolute(cls, value: Path | None) -> Path | None:
        return value.expanduser().absolute() if value is not None else None

    @field_validator("database_url", mode="after")
    @classmethod
    def _a_url(cls, value: str | None) -> str | None:
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        if value is not None:
            try:
                make_url(value)
            except ArgumentError:
                # Not echoed: the text may hold a password.
                raise ValueError(
                    "not a database URL (e.g. postgresql+psycopg://user:pass@host/db or "
                    "sqlite:////var/lib/gapfill/catalog.sqlite3)"
                ) from None
        return value

    @field_validator("data_dir", "output_dir", "keys_dir", mode="after")
    @classmethod
    def _not_a_file(cls, value: Path | None) -> Path | None:
        # gapfill makes these directories when it first needs them; a file in the way would
        # otherwise surface later as an OSError deep inside whichever command got there first.
        if value is not None and value.exists() and not value.is_dir():
            raise ValueError(f"{value} exists and is not a directory")
        return value

    @field_validator("mqtt_url", mode="after")
    @classmethod
    def _an_mqtt_url(cls, value: str | None) -> str | None:
        from urllib.parse import urlsplit

        if value is not None:
            parts = urlsplit(value)
            if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
                # Not echoed: the text may hold a password.
                raise ValueError("not an MQTT URL (mqtt://host:1883 or mqtts://host:8883)")
        return value

    @model_validator(mode="after")
    def _frigate_db_named(self) -> Settings:
        if self.recordings_layout == "frigate-db" and self.frigate_db is None:
            raise ValueError("recordings_layout frigate-db needs frigate_db (Frigate's frigate.db)")
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_file = os.environ.get("GAPFILL_CONFIG_FILE", "gapfill.toml")
        toml = _KnownKeysTomlSource(settings_cls, toml_file=toml_file)
        return (init_settings, env_settings, dotenv_settings, toml, file_secret_settings)

    # Derived locations: one rule each, so no caller re-invents them.
    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'catalog.sqlite3'}"

    @property
    def effective_output_dir(self) -> Path:
        return self.output_dir or self.data_dir / "synthetic"

    @property
    def effective_keys_dir(self) -> Path:
        return self.keys_dir or self.data_dir / "keys"

    def redacted(self) -> dict[str, Any]:
        """The configuration as plain data with secrets (passwords in URLs, keys) hidden."""
        data = self.model_dump(mode="json")
        data["secret_key"] = "**********" if self.secret_key.get_secret_value() else ""
        if self.mqtt_url:
            data["mqtt_url"] = _hide_url_password(self.mqtt_url)
        data["effective_database_url"] = _hide_password(self.effective_database_url)
        if data.get("database_url"):
            data["database_url"] = _hide_password(data["database_url"])
        data["effective_output_dir"] = str(self.effective_output_dir)
        data["effective_keys_dir"] = str(self.effective_keys_dir)
        return data


class _KnownKeysTomlSource(TomlConfigSettingsSource):
    """The TOML file, refusing keys no setting has. The file is written by hand for one site, so
    an unknown key is a typo (`retention_day = 30`) that would otherwise be dropped in silence
    and leave the default in force. Environment and .env stay lenient: they carry other
    programs' variables too."""

    def __init__(self, settings_cls: type[BaseSettings], toml_file: str) -> None:
        super().__init__(settings_cls, toml_file=toml_file)
        unknown = sorted(set(self.toml_data) - set(settings_cls.model_fields))
        if unknown:
            raise ValueError(
                f"unknown setting(s) {', '.join(unknown)}; `gapfill config show` lists them all"
            )


def _hide_url_password(url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()


def _hide_password(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def load_settings(**overrides: Any) -> Settings:
    """Read the configuration; a broken TOML or a bad value is a user error naming its source."""
    from pydantic import ValidationError

    from gapfill.errors import UserError

    try:
        return Settings(**overrides)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        problem = "unknown setting" if first["type"] == "extra_forbidden" else first["msg"]
        if not where:  # a rule over several settings names them itself
            raise UserError(f"configuration: {problem.removeprefix('Value error, ')}") from None
        raise UserError(f"configuration: {where}: {problem}") from None
    except (OSError, ValueError) as exc:  # tomllib.TOMLDecodeError is a ValueError
        toml_file = os.environ.get("GAPFILL_CONFIG_FILE", "gapfill.toml")
        raise UserError(f"{toml_file}: {exc}") from None
