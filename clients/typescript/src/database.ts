// Generated from the database catalog by compute-gateway (gateway/src/typescript.rs): do not edit.
// Regenerate with `UPDATE_TYPES=1 cargo test -p compute-gateway --test typescript`.

export type Json = string | number | boolean | null | { [key: string]: Json | undefined } | Json[];

export type Database = {
  public: {
    Tables: {
      compute_devices: {
        Row: {
          id: string;
          user_id: string;
          device_name: string;
          device_type: string;
          ram_gb: number;
          cpu_cores: number;
          storage_gb: number;
          compute_score: number;
          is_active: boolean;
          last_seen: string;
          created_at: string;
          updated_at: string;
          deactivated_at: string | null;
          slot: number;
          country_code: string | null;
        };
        Insert: { [_ in never]: never };
        Update: { [_ in never]: never };
        Relationships: [];
      };
      countries: {
        Row: {
          country_code: string;
          numeric_code: string;
          country_name: string;
          region: string | null;
          subregion: string | null;
        };
        Insert: { [_ in never]: never };
        Update: { [_ in never]: never };
        Relationships: [];
      };
      device_accelerators: {
        Row: {
          device_id: string;
          vendor: string;
          product_name: string;
          model: string;
          memory_mib: number;
          count: number;
        };
        Insert: { [_ in never]: never };
        Update: { [_ in never]: never };
        Relationships: [];
      };
      network_history_hours: {
        Row: {
          hour: string;
          kind: number;
          group_key: string;
          samples: number;
          active_nodes_sum: number;
          active_nodes_min: number;
          active_nodes_max: number;
          total_ram_gb_sum: number;
          total_cpu_cores_sum: number;
          total_storage_gb_sum: number;
          total_compute_score_sum: number;
          total_gpus_sum: number;
          total_gpu_memory_gb_sum: number;
        };
        Insert: { [_ in never]: never };
        Update: { [_ in never]: never };
        Relationships: [];
      };
      network_history_minutes: {
        Row: {
          minute: string;
          kind: number;
          group_key: string;
          active_nodes: number;
          total_ram_gb: number;
          total_cpu_cores: number;
          total_storage_gb: number;
          total_compute_score: number;
          total_gpus: number;
          total_gpu_memory_gb: number;
        };
        Insert: { [_ in never]: never };
        Update: { [_ in never]: never };
        Relationships: [];
      };
      online_intervals: {
        Row: {
          device_id: string;
          started_at: string;
          ended_at: string | null;
          end_reason: string | null;
        };
        Insert: { [_ in never]: never };
        Update: { [_ in never]: never };
        Relationships: [];
      };
      published_totals: {
        Row: {
          singleton: boolean;
          taken_at: string;
          active_window_seconds: number;
          by_type: Json;
        };
        Insert: { [_ in never]: never };
        Update: { [_ in never]: never };
        Relationships: [];
      };
      unknown_periods: {
        Row: {
          started_at: string;
          ended_at: string;
        };
        Insert: { [_ in never]: never };
        Update: { [_ in never]: never };
        Relationships: [];
      };
    };
    Views: {
      compute_devices_live: {
        Row: {
          id: string | null;
          user_id: string | null;
          device_name: string | null;
          device_type: string | null;
          ram_gb: number | null;
          cpu_cores: number | null;
          storage_gb: number | null;
          compute_score: number | null;
          is_active: boolean | null;
          last_seen: string | null;
          created_at: string | null;
          updated_at: string | null;
          deactivated_at: string | null;
          accelerators: Json | null;
          country_code: string | null;
          region: string | null;
          subregion: string | null;
          uptime_1d: number | null;
          uptime_7d: number | null;
          flaps_24h: number | null;
          health_score: number | null;
        };
        Relationships: [];
      };
    };
    Functions: {
      calculate_compute_score: {
        Args: {
          ram_gb: number;
          cpu_cores: number;
          storage_gb: number;
        };
        Returns: number;
      };
      caller_user_id: {
        Args: Record<PropertyKey, never>;
        Returns: string;
      };
      current_liveness: {
        Args: {
          device_id: string;
          user_id: string;
          is_active: boolean;
          last_seen: string;
          deactivated_at: string;
        };
        Returns: {
          is_active: boolean | null;
          last_seen: string | null;
        };
      };
      deactivate_device: {
        Args: {
          device_id: string;
        };
        Returns: {
          id: string | null;
          user_id: string | null;
          device_name: string | null;
          device_type: string | null;
          ram_gb: number | null;
          cpu_cores: number | null;
          storage_gb: number | null;
          compute_score: number | null;
          is_active: boolean | null;
          last_seen: string | null;
          created_at: string | null;
          updated_at: string | null;
          deactivated_at: string | null;
          accelerators: Json | null;
          country_code: string | null;
          region: string | null;
          subregion: string | null;
          uptime_1d: number | null;
          uptime_7d: number | null;
          flaps_24h: number | null;
          health_score: number | null;
        };
      };
      device_health: {
        Args: {
          device_id: string;
          user_id: string;
          created_at: string;
        };
        Returns: {
          uptime_1d: number | null;
          uptime_7d: number | null;
          flaps_24h: number | null;
          health_score: number | null;
        };
      };
      get_capacity: {
        Args: {
          device_types?: string[];
          countries?: string[];
          regions?: string[];
          min_ram_gb?: number;
          min_cpu_cores?: number;
          min_storage_gb?: number;
          gpu_vendors?: string[];
          gpu_models?: string[];
          min_gpus?: number;
          min_gpu_memory_mib?: number;
          group_by?: string;
          min_uptime_7d?: number;
        };
        Returns: ({
          group_key: string | null;
          active_nodes: number | null;
          total_ram_gb: number | null;
          total_cpu_cores: number | null;
          total_storage_gb: number | null;
          total_compute_score: number | null;
          total_gpus: number | null;
          total_gpu_memory_gb: number | null;
          expected_nodes: number | null;
          expected_ram_gb: number | null;
          expected_cpu_cores: number | null;
          expected_gpus: number | null;
          p95_floor_nodes: number | null;
          p95_floor_gpus: number | null;
        })[];
      };
      get_network_history: {
        Args: {
          since: string;
          until: string;
          bucket?: string;
          group_by?: string;
        };
        Returns: ({
          bucket_start: string | null;
          group_key: string | null;
          active_nodes: number | null;
          active_nodes_min: number | null;
          active_nodes_max: number | null;
          total_ram_gb: number | null;
          total_cpu_cores: number | null;
          total_storage_gb: number | null;
          total_compute_score: number | null;
          total_gpus: number | null;
          total_gpu_memory_gb: number | null;
        })[];
      };
      get_network_stats: {
        Args: Record<PropertyKey, never>;
        Returns: {
          active_nodes: number | null;
          total_ram_gb: number | null;
          total_cpu_cores: number | null;
          total_storage_gb: number | null;
          total_compute_score: number | null;
          total_gpus: number | null;
          total_gpu_memory_gb: number | null;
        };
      };
      get_network_stats_at: {
        Args: {
          at: string;
        };
        Returns: {
          active_nodes: number | null;
          total_ram_gb: number | null;
          total_cpu_cores: number | null;
          total_storage_gb: number | null;
          total_compute_score: number | null;
          total_gpus: number | null;
          total_gpu_memory_gb: number | null;
        };
      };
      get_network_stats_by_type: {
        Args: Record<PropertyKey, never>;
        Returns: ({
          device_type: string | null;
          active_nodes: number | null;
          total_ram_gb: number | null;
          total_cpu_cores: number | null;
          total_storage_gb: number | null;
          total_compute_score: number | null;
          total_gpus: number | null;
          total_gpu_memory_gb: number | null;
        })[];
      };
      get_user_devices: {
        Args: Record<PropertyKey, never>;
        Returns: ({
          id: string | null;
          user_id: string | null;
          device_name: string | null;
          device_type: string | null;
          ram_gb: number | null;
          cpu_cores: number | null;
          storage_gb: number | null;
          compute_score: number | null;
          is_active: boolean | null;
          last_seen: string | null;
          created_at: string | null;
          updated_at: string | null;
          deactivated_at: string | null;
          accelerators: Json | null;
          country_code: string | null;
          region: string | null;
          subregion: string | null;
          uptime_1d: number | null;
          uptime_7d: number | null;
          flaps_24h: number | null;
          health_score: number | null;
        })[];
      };
      liveness_status: {
        Args: Record<PropertyKey, never>;
        Returns: ({
          path: string | null;
          slots: number | null;
          slots_used: number | null;
          shared_memory_bytes: number | null;
          snapshot_taken_at: string | null;
          in_recovery: boolean | null;
          snapshot_age_seconds: number | null;
        })[];
      };
      record_network_history: {
        Args: Record<PropertyKey, never>;
        Returns: string;
      };
      register_device: {
        Args: {
          device_name: string;
          device_type: string;
          ram_gb: number;
          cpu_cores: number;
          storage_gb: number;
          accelerators?: Json;
          country_code?: string;
        };
        Returns: {
          id: string | null;
          user_id: string | null;
          device_name: string | null;
          device_type: string | null;
          ram_gb: number | null;
          cpu_cores: number | null;
          storage_gb: number | null;
          compute_score: number | null;
          is_active: boolean | null;
          last_seen: string | null;
          created_at: string | null;
          updated_at: string | null;
          deactivated_at: string | null;
          accelerators: Json | null;
          country_code: string | null;
          region: string | null;
          subregion: string | null;
          uptime_1d: number | null;
          uptime_7d: number | null;
          flaps_24h: number | null;
          health_score: number | null;
        };
      };
      resync_liveness: {
        Args: Record<PropertyKey, never>;
        Returns: number;
      };
      send_heartbeat: {
        Args: {
          device_id: string;
        };
        Returns: {
          device_id: string | null;
          is_active: boolean | null;
          last_seen: string | null;
          next_heartbeat_in_seconds: number | null;
        };
      };
      send_heartbeats: {
        Args: {
          user_ids: string[];
          device_ids: string[];
        };
        Returns: ({
          user_id: string | null;
          device_id: string | null;
          is_active: boolean | null;
          last_seen: string | null;
          next_heartbeat_in_seconds: number | null;
          error_code: string | null;
          error_message: string | null;
          error_hint: string | null;
        })[];
      };
      sweep_stale_devices: {
        Args: Record<PropertyKey, never>;
        Returns: number;
      };
    };
    Enums: { [_ in never]: never };
    CompositeTypes: { [_ in never]: never };
  };
};
